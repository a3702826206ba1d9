/* What the stand-in wdk-sys binds: mingw-w64's DDK headers plus the supplement. */
#include <ntifs.h>
#include <ntddk.h>
#include <dpfilter.h>
#include "kcb_supplement.h"
