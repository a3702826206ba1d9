//! The object-attributes rule for routines that open or create an object by
//! name on the caller's behalf: "driver routines that run in a process
//! context other than that of the system process must set the
//! OBJ_KERNEL_HANDLE flag for the Attributes member"
//! (wdm/nf-wdm-initializeobjectattributes). Without it the handle the
//! routine creates goes into the current process's handle table, where that
//! process can use or close it (wdm/ns-wudfwdm-_object_attributes,
//! `OBJ_KERNEL_HANDLE`: "the handle can only be accessed in kernel mode").
//! No bug check is documented for it: the model records an NSIM
//! `InvalidParameter` violation.

use wdk_sys::{OBJ_KERNEL_HANDLE, OBJECT_ATTRIBUTES};

use crate::context::{SYSTEM_PID, current_pid};
use crate::verifier::{self, ModelRule};

/// Flags `attributes` passed to `ddi` from a process other than the system
/// process without `OBJ_KERNEL_HANDLE`.
pub fn check_kernel_handle(ddi: &str, attributes: &OBJECT_ATTRIBUTES) {
    let pid = current_pid();
    if pid != SYSTEM_PID && attributes.Attributes & OBJ_KERNEL_HANDLE == 0 {
        verifier::model_rule(
            ModelRule::InvalidParameter,
            u64::from(attributes.Attributes),
            format!(
                "{ddi}: Attributes {:#x} without OBJ_KERNEL_HANDLE in process {pid} (not the system process): the handle would be the caller's (wdm/nf-wdm-initializeobjectattributes)",
                attributes.Attributes
            ),
        );
    }
}
