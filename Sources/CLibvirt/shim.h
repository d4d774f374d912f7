#ifndef SENDENSE_LIBVIRT_SHIM_H
#define SENDENSE_LIBVIRT_SHIM_H
// libvirt's C API (libvirt-dev): domains, their XML, pull-mode backups,
// checkpoints and the guest agent's filesystem freeze; libvirt-qemu's
// monitor and agent passthrough (a boot check's screenshot and heartbeat).
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
