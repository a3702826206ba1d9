/*
 * Declarations the kcallbacks driver needs that mingw-w64's DDK headers lack.
 * Written from Microsoft's documentation (learn.microsoft.com, windows-hardware
 * drivers/ddi), page named above each block. Every name matches the WDK's, so
 * the same Rust source compiles against the real wdk-sys.
 */
#pragma once

/* wdm/nf-wdm-exallocatepool2, wdm/ne-wdm-pool_flags (Windows 10 2004) */
typedef ULONG64 POOL_FLAGS;
#define POOL_FLAG_USE_QUOTA         0x0000000000000001ULL
#define POOL_FLAG_UNINITIALIZED     0x0000000000000002ULL
#define POOL_FLAG_SESSION           0x0000000000000004ULL
#define POOL_FLAG_CACHE_ALIGNED     0x0000000000000008ULL
#define POOL_FLAG_RAISE_ON_FAILURE  0x0000000000000020ULL
#define POOL_FLAG_NON_PAGED         0x0000000000000040ULL
#define POOL_FLAG_NON_PAGED_EXECUTE 0x0000000000000080ULL
#define POOL_FLAG_PAGED             0x0000000000000100ULL
NTKERNELAPI PVOID NTAPI ExAllocatePool2(POOL_FLAGS Flags, SIZE_T NumberOfBytes, ULONG Tag);

/* ntddk/nf-ntddk-pssetcreateprocessnotifyroutineex2 (Windows 10 1703) */
typedef enum _PSCREATEPROCESSNOTIFYTYPE {
  PsCreateProcessNotifySubsystems = 0
} PSCREATEPROCESSNOTIFYTYPE;
NTKERNELAPI NTSTATUS NTAPI PsSetCreateProcessNotifyRoutineEx2(
  PSCREATEPROCESSNOTIFYTYPE NotifyType, PVOID NotifyInformation, BOOLEAN Remove);

/* ntddk/nf-ntddk-pssetcreatethreadnotifyroutineex, ntddk/ne-ntddk-_pscreatethreadnotifytype */
typedef enum _PSCREATETHREADNOTIFYTYPE {
  PsCreateThreadNotifyNonSystem = 0,
  PsCreateThreadNotifySubsystems = 1
} PSCREATETHREADNOTIFYTYPE;
NTKERNELAPI NTSTATUS NTAPI PsSetCreateThreadNotifyRoutineEx(
  PSCREATETHREADNOTIFYTYPE NotifyType, PVOID NotifyInformation);

/* ntddk/nf-ntddk-pssetloadimagenotifyroutineex (Windows 10 1709) */
#define PS_IMAGE_NOTIFY_CONFLICTING_ARCHITECTURE 0x1
NTKERNELAPI NTSTATUS NTAPI PsSetLoadImageNotifyRoutineEx(
  PLOAD_IMAGE_NOTIFY_ROUTINE NotifyRoutine, ULONG_PTR Flags);

/* wdm/nf-wdm-keregisterboundcallback, wdm/ne-wdm-_bound_callback_status */
typedef enum _BOUND_CALLBACK_STATUS {
  BoundExceptionContinueSearch = 0,
  BoundExceptionHandled,
  BoundExceptionError,
  BoundExceptionMaximum
} BOUND_CALLBACK_STATUS, *PBOUND_CALLBACK_STATUS;
typedef BOUND_CALLBACK_STATUS (*PBOUND_CALLBACK)(VOID);
NTKERNELAPI PVOID NTAPI KeRegisterBoundCallback(PBOUND_CALLBACK CallbackRoutine);
NTKERNELAPI NTSTATUS NTAPI KeDeregisterBoundCallback(PVOID Handle);

/* ntddk.h WheaRegisterInUsePageOfflineNotification (no DDI page). The only source is the header
   declaration, as carried by Microsoft's WDK metadata (windows-sys Wdk::System::SystemServices:
   fn(page: u32, flags: bool, poisoned: bool, context) -> bool); tests/windows_sys_conformance.rs
   holds this typedef against it. Flags carries WHEA_IN_USE_PAGE_NOTIFY_FLAG_* bits. */
typedef BOOLEAN (*PFN_IN_USE_PAGE_OFFLINE_NOTIFY)(
  ULONG Page, BOOLEAN Flags, BOOLEAN Poisoned, PVOID Context);
NTKERNELAPI NTSTATUS NTAPI WheaRegisterInUsePageOfflineNotification(
  PFN_IN_USE_PAGE_OFFLINE_NOTIFY Callback, PVOID Context);
NTKERNELAPI NTSTATUS NTAPI WheaUnregisterInUsePageOfflineNotification(
  PFN_IN_USE_PAGE_OFFLINE_NOTIFY Callback);

/* wdm/nf-wdm-cmcallbackgetkeyobjectidex, wdm/nf-wdm-cmcallbackreleasekeyobjectidex */
NTKERNELAPI NTSTATUS NTAPI CmCallbackGetKeyObjectIDEx(
  PLARGE_INTEGER Cookie, PVOID Object, PULONG_PTR ObjectID,
  PCUNICODE_STRING *ObjectName, ULONG Flags);
NTKERNELAPI VOID NTAPI CmCallbackReleaseKeyObjectIDEx(PCUNICODE_STRING ObjectName);

/* wdm/nf-wdm-kequerysystemtimeprecise (Windows 8) */
NTKERNELAPI VOID NTAPI KeQuerySystemTimePrecise(PLARGE_INTEGER CurrentTime);

/* ntifs/nf-ntifs-obsetsecurityobjectbypointer */
NTKERNELAPI NTSTATUS NTAPI ObSetSecurityObjectByPointer(
  PVOID Object, SECURITY_INFORMATION SecurityInformation, PSECURITY_DESCRIPTOR SecurityDescriptor);

/* wdm/nf-wdm-ioregisterplugplaynotification flag (value from wdm.h) */
#ifndef PNPNOTIFY_DEVICE_INTERFACE_INCLUDE_EXISTING_INTERFACES
#define PNPNOTIFY_DEVICE_INTERFACE_INCLUDE_EXISTING_INTERFACES 0x00000001
#endif

/* wdm/nf-wdm-keregisterprocessorchangecallback flag */
#ifndef KE_PROCESSOR_CHANGE_ADD_EXISTING
#define KE_PROCESSOR_CHANGE_ADD_EXISTING 1
#endif
