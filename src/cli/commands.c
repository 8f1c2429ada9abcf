/* The command table: every command, the parameters it takes and its help text.
 * `xe help`, the argument check and bash completion all read this one table. */
#include "cli.h"

#include <string.h>

/* The commands every class gets.  Where uuid= is required: UR "uuid", U "uuid,";
 * where it is optional (the pool: there is only one): UO "uuid", O ",uuid". */
#define CLASS_COMMANDS(p, C, UR, U, UO, O)                                                                       \
    {p "-list", cmd_list, C, NULL, "params", CMD_FIELDS | CMD_MAPKEYS,                                 \
     "List the " p " objects.  params=a,b picks the params shown (params=all: every one); "             \
     "any param=value (or map-param:key=value) keeps only the objects with that value; "                \
     "--minimal prints their uuids on one line, separated by commas."},                                 \
    {p "-param-list", cmd_param_list, C, UR, UO, 0,                \
     "Show every param of one " p ", with its RO/RW tag (MRO/MRW for maps and sets)."},                 \
    {p "-param-get", cmd_param_get, C, U "param-name", "param-key" O, 0,                               \
     "Print one param of a " p "; param-key= picks one key of a map param."},                           \
    {p "-param-set", cmd_param_set, C, UR, UO,                     \
     CMD_FIELDS | CMD_MAPKEYS,                                                                          \
     "Set params of a " p ": param=value for each, map-param:key=value for one key of a map.  "         \
     "Only RW params can be set."},                                                                     \
    {p "-param-add", cmd_param_add, C, U "param-name", "param-key" O, CMD_ANYKEY,                      \
     "Add to a map param (key=value ...) or a set param (param-key=member) of a " p "."},               \
    {p "-param-remove", cmd_param_remove, C, U "param-name,param-key", UO, 0,        \
     "Remove a key from a map param, or a member from a set param, of a " p "."},                       \
    {p "-param-clear", cmd_param_clear, C, U "param-name", UO, 0,                    \
     "Empty a map, set or string param of a " p "."}

const struct cli_cmd cli_commands[] = {
    {"help", cmd_help, NULL, NULL, "command", CMD_NOLOGIN,
     "Describe a command and the parameters it takes; without one, list the commands.  "
     "--minimal lists names only, separated by commas (for scripts and completion); "
     "--fields lists the params of the command's class."},

    CLASS_COMMANDS("vm", CLI_VM, "uuid", "uuid,", NULL, ""),
    {"vm-install", cmd_vm_install, CLI_VM, "new-name-label", "template", CMD_FIELDS,
     "Make a new VM and print its uuid: a copy of template= (a name or uuid) when given, else a VM "
     "with the datamodel's defaults.  Any other param=value sets that param of the new VM."},
    {"vm-create", cmd_vm_create, CLI_VM, "name-label", NULL, CMD_FIELDS,
     "Make a new VM from the given params (name-label=, VCPUs-max=, has-vendor-device=, ...) and "
     "print its uuid."},
    {"vm-uninstall", cmd_vm_uninstall, CLI_VM, NULL, "force", CMD_SELECT,
     "Destroy the selected VMs after asking for 'yes' on standard input (--force: without asking)."},
    {"vm-destroy", cmd_vm_destroy, CLI_VM, NULL, NULL, CMD_SELECT, "Destroy the selected VM records."},
    {"vm-start", cmd_vm_start, CLI_VM, NULL, "on,paused,force", CMD_SELECT,
     "Start the selected VMs, on the host on= (a name or uuid) or on any host that passes every "
     "check; paused=true leaves them paused.  When no host can run a VM, the reason of each host "
     "is printed."},
    {"vm-shutdown", cmd_vm_shutdown, CLI_VM, NULL, "force", CMD_SELECT,
     "Shut the selected VMs down: cleanly, falling back to a hard shutdown when the guest does not "
     "comply; --force shuts down at once."},
    {"vm-reboot", cmd_vm_reboot, CLI_VM, NULL, "force", CMD_SELECT,
     "Reboot the selected VMs through their guests; --force rebuilds the domain at once."},
    {"vm-pause", cmd_vm_pause, CLI_VM, NULL, NULL, CMD_SELECT, "Pause the selected running VMs."},
    {"vm-unpause", cmd_vm_unpause, CLI_VM, NULL, NULL, CMD_SELECT, "Unpause the selected paused VMs."},
    {"vm-suspend", cmd_vm_suspend, CLI_VM, NULL, NULL, CMD_SELECT, "Suspend the selected running VMs."},
    {"vm-resume", cmd_vm_resume, CLI_VM, NULL, "on,paused,force", CMD_SELECT,
     "Resume the selected suspended VMs, on the host on= or on any host that passes every check."},
    {"vm-migrate", cmd_vm_migrate, CLI_VM, "host", "live", CMD_SELECT,
     "Move the selected running VMs to host= (a name or uuid) in the pool."},
    {"vm-boot-check", cmd_vm_boot_check, CLI_VM, NULL, NULL, CMD_SELECT,
     "For every host, whether the selected VM can start there and, if not, the error a start there "
     "would raise.  --minimal prints the uuids of the hosts that can start it."},
    {"vm-virtual-hardware", cmd_vm_virtual_hardware, CLI_VM, NULL, NULL, CMD_SELECT,
     "Print the XML document of the virtual hardware the selected VM gets (VM.get_virtual_hardware): its "
     "machine type, devices with their PCI slots and ids, platform keys; pinned at its first start "
     "(param virtual-hardware)."},

    {"vm-export", cmd_vm_export, CLI_VM, "filename", "metadata", CMD_SELECT,
     "Write the selected VM's metadata to filename= (metadata=true: the only kind here), as xapi's "
     "export_metadata writes it: a tar holding ova.xml.  A progress bar shows on a terminal."},
    {"vm-import", cmd_vm_import, NULL, "filename", "metadata,dry-run,force,preserve", 0,
     "Make the VMs of a metadata export (metadata=true; xapi's or this server's) and print their "
     "uuids.  dry-run=true says what it would do and makes nothing; force=true imports a VM no "
     "live host offers the platform version of (never one above the pool's maximum)."},
    {"vm-upgrade-schedule", cmd_vm_upgrade_schedule, CLI_VM, "version", NULL, CMD_SELECT,
     "Raise the selected VMs' hardware-platform-version to version= at their next clean shutdown "
     "(vm-shutdown, or the guest powering off; not --force, a crash or a reboot); until then "
     "pending-hardware-platform-version shows it."},
    {"vm-upgrade-cancel", cmd_vm_upgrade_cancel, CLI_VM, NULL, NULL, CMD_SELECT,
     "Forget the selected VMs' pending platform upgrade."},

    CLASS_COMMANDS("host", CLI_HOST, "uuid", "uuid,", NULL, ""),
    {"host-enable", cmd_host_enable, CLI_HOST, NULL, NULL, CMD_SELECT, "Let VMs start on the selected hosts."},
    {"host-disable", cmd_host_disable, CLI_HOST, NULL, NULL, CMD_SELECT,
     "Stop VMs from starting on the selected hosts (running VMs stay)."},

    CLASS_COMMANDS("pool", CLI_POOL, NULL, "", "uuid", ",uuid"),
    {"pool-join", cmd_pool_join, CLI_POOL, "master-address,master-username,master-password", NULL, 0,
     "Make the host xe talks to a member of the pool whose master is master-address (the HTTPS port "
     "is the host's own).  The host restarts as a member; its halted VMs move to the pool."},
    {"pool-eject", cmd_pool_eject, CLI_POOL, "host-uuid", NULL, 0,
     "Remove a member from the pool; it restarts as a standalone host with a new database.  "
     "Refused while VMs run on it."},
    {"pool-platform-versions", cmd_pool_platform_versions, CLI_POOL, NULL, NULL, 0,
     "Print the hardware platform versions every live, enabled host of the pool offers: the "
     "versions a VM can have and run anywhere in the pool now."},

    CLASS_COMMANDS("task", CLI_TASK, "uuid", "uuid,", NULL, ""),
    {"task-cancel", cmd_task_cancel, CLI_TASK, NULL, NULL, CMD_SELECT, "Ask the selected pending tasks to stop."},

    {"event-wait", cmd_event_wait, NULL, "class", "timeout", CMD_ANYKEY,
     "Wait until an object of class= (vm, host, task, ...) has every field=value given "
     "(field=/=value: a value other than that), then return; timeout= gives up after that many "
     "seconds with exit code 1."},
    {NULL, NULL, NULL, NULL, NULL, 0, NULL},
};

const struct cli_cmd *cli_command_find(const char *name)
{
    for (const struct cli_cmd *c = cli_commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

const struct cli_class *cli_cmd_class(struct cli *c)
{
    return c->cmd->cls;
}
