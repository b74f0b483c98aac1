/* TEMPORARY placeholder until the oci-trampoline branch lands (replaced by the real one). */
#include "cenvyro.h"
#include <errno.h>
int envyro_container_exec(const struct envyro_exec_config *cfg, pid_t *pid_out, int *step_out) {
    (void)cfg; *pid_out = 0; *step_out = 0; errno = ENOSYS; return -1;
}
