#ifndef SENDENSE_LIBVIRT_SHIM_H
#define SENDENSE_LIBVIRT_SHIM_H
// libvirt's C API (libvirt-dev): domains, their XML, pull-mode backups,
// checkpoints, the guest agent's filesystem freeze, screenshots through a
// stream; libvirt-qemu's agent passthrough (a boot check's heartbeat).
#include <stdlib.h>
#include <libvirt/libvirt.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>

static inline void sendense_libvirt_ignore_error(void *data, virErrorPtr error) {
    (void)data;
    (void)error;
}

/// libvirt's default error handler prints every error to stderr; the
/// Swift side reads the thread's last error instead.
static inline void sendense_libvirt_quiet_errors(void) {
    virSetErrorFunc(NULL, sendense_libvirt_ignore_error);
}
#endif
