/* Every configuration key, its default and its meaning.  etc/xenapid.conf documents
 * the same keys for operators; tests/unit/test_config.c checks the two agree. */
#include "config_keys.h"

#include <stddef.h>

const struct config_key config_keys[] = {
    /* the server */
    {"https-address", "0.0.0.0", "address the HTTPS server listens on ('' for no HTTPS; '::' for IPv6 too)"},
    {"https-port", "443", "TCP port of the HTTPS server (0: any free port)"},
    {"tls-certificate", "", "PEM certificate of the HTTPS server ('': xenapid-cert.pem beside db-path); made self-signed at first start when it and its key do not exist"},
    {"tls-key", "", "PEM private key of the certificate ('': xenapid-key.pem beside db-path); refused unless only its owner can read it"},
    {"listen-address", "127.0.0.1", "address the plain HTTP server listens on ('' for none): keep it on loopback"},
    {"listen-port", "8090", "TCP port of the plain HTTP server (0: any free port)"},
    {"unix-socket", "var/xenapid.sock", "unix socket serving the same API to local tools ('' for none); root on it logs in without a password"},
    {"max-connections", "4096", "connections open at once, per listener; more wait to be accepted"},
    {"max-connections-per-address", "256", "connections open at once from one client address (0: no limit)"},
    {"keepalive-timeout", "60", "seconds a connection may wait for its next request"},
    {"request-timeout", "30", "seconds a client has to send a whole request once it started it"},
    {"max-request-size", "16777216", "largest request body accepted, bytes"},
    {"server-threads", "0", "threads reading requests and writing answers, per TCP listener (0: one per CPU)"},
    {"worker-threads", "64", "most threads running calls that may take long (VM operations); logins have 8 of their own, waits for events none"},
    /* the store */
    {"db-path", "var/xenapid.db", "SQLite database file"},
    {"db-sync", "full", "SQLite synchronous mode: full (survives power loss) or normal (survives a crash of the daemon)"},
    {"event-log-size", "100000", "events kept for event.from/event.next; older tokens get EVENTS_LOST"},
    {"record-cache-size", "8388608", "bytes of serialised records kept for VM.get_record and the other get_record calls, each dropped by any write to its record (0: none)"},
    {"event-from-batching", "0", "seconds event.from waits after a first event for more to answer with (xapi waits 0.05; 0: answer at once)"},
    /* sessions and authentication */
    {"auth", "file", "how passwords are checked: file (auth-file, salted crypt(3) hashes) or pam (service xenapid)"},
    {"auth-file", "var/passwd", "password file written by `xenapid --set-password USER`"},
    {"session-timeout", "86400", "seconds after which an idle session expires"},
    {"login-failure-delay", "1.0", "seconds a failed login waits before answering"},
    /* logging */
    {"log-target", "stderr", "stderr or syslog"},
    {"log-level", "info", "error, warn, info or debug"},
    /* the hypervisor */
    {"backend", "simulator", "hypervisor backend: simulator or xc (libxenctrl, in a Xen dom0)"},
    {"xenstore-path", "", "xenstore socket for the xc backend ('' for libxenstore's default)"},
    {"device-model-dir", "/run/xenapid/dm", "where each HVM domain's device model command line is kept (<domid>.argv, one argument a line) while the domain lives; xc: the device model is started from it, with its pid and log beside; simulator: only recorded"},
    {"suspend-image-dir", "", "where Suspended VMs' saved domains are kept, <vm uuid>.image ('': suspend/ beside db-path)"},
    {"device-model-timeout", "60", "xc: seconds an HVM domain's device model has to say it is ready before the start fails"},
    {"hvm-tsc-mode", "default", "xc: the TSC of HVM guests: default (Xen's choice) or native (the host's; needed under nested emulation)"},
    {"hvm-hide-xsave", "false", "xc: hide XSAVE from HVM guests' CPUID (needed when Xen itself runs under emulation, as in tests/xen)"},
    {"sim-state-dir", "var/sim", "simulator: where its xenstore socket and state live"},
    {"sim-memory-mib", "16384", "simulator: the host's memory"},
    {"sim-cpus", "8", "simulator: the host's CPUs"},
    {"sim-build-delay", "0", "simulator: seconds each domain build takes, as a real one does (for tests)"},
    /* the virtual hardware platform */
    {"virtual-hardware-platform-versions", "0,1", "platform versions this host offers"},
    {"platform-version-aware", "true", "false: behave as software that predates the platform version (a member of a rolling upgrade): never write host.virtual_hardware_platform_versions, so the record keeps the [0] the master gave it"},
    {"platform-registry", "etc/platform.xml", "versions, their devices and features, and the version each feature requires"},
    /* the VM lifecycle */
    {"shutdown-ack-timeout", "30", "seconds a guest has to acknowledge a clean shutdown or reboot request"},
    {"clean-shutdown-timeout", "1200", "seconds a guest has to shut down once it acknowledged"},
    /* guest tools */
    {"guest-tools-version", "1.0.0.0", "the guest tools version this host ships: guests reporting less are out of date"},
    {"guest-metrics-interval", "1.0", "seconds between two reads of one guest's reports, however often it bumps data/updated"},
    {"host-name-label", "", "name_label of this host's record ('' for the hostname)"},
    {"host-address", "", "the address clients and pool members reach this host at ('' to find it)"},
    {"inventory", "var/inventory", "this host's identity (its uuid), kept outside the database"},
    /* the pool */
    {"pool-file", "", "this host's pool membership: master address, pool secret, pinned certificates ('': pool.state beside db-path); kept outside the database, which a member does not own"},
    {"api-version", "", "the API version this host reports as MAJOR.MINOR ('': its own); only for tests posing as another release"},
    {"heartbeat-interval", "10", "members: seconds between two heartbeats to the master"},
    {"host-dead-after", "30", "master: seconds without a heartbeat after which a member is not live"},
    {NULL, NULL, NULL},
};
