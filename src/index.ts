// The public API of the `provision` package (`import { file, type Playbook } from 'provision'`):
// the task contract and the generic modules a team's own playbook is written with. The LVS
// playbooks are `provision/lvs`. Nothing else under dist/ is part of the API.
export type {
  Play,
  Playbook,
  Task,
  TaskContext,
  HostFacts,
  InterfaceFact,
  OsFamily,
  InitSystem,
  PackageManager,
  Probe,
  ProbeOutput,
  PlannedChange,
  Step,
  Footprint,
  RunReport,
  HostReport,
  TaskReport,
  TaskStatus,
} from './core/types.js';
export type { Inventory, HostEntry } from './inventory/types.js';
export type { Forwarding, LvsSpec, VirtualServiceSpec } from './lvs/types.js';
export type { Evidence, Connection, ExecResult } from './core/types.js';
/** An ExecResult for a Connection of one's own: stdout's bytes (file contents travel raw) and their text. */
export { execResult } from './core/host-output.js';
export { ProvisionError, TaskError, UsageError, HostConfigError, EXIT } from './core/errors.js';
/** Shell scripts for a custom task's probe and steps: every value interpolated into sh`` is quoted. */
export { sh, raw, secret, cmd, Script, SBIN_PATH, type ShValue } from './core/shell.js';
export {
  file,
  template,
  directory,
  lineInFile,
  sysctl,
  kernelModule,
  pkg,
  service,
  serviceRestart,
  retiredService,
  command,
  sourceBuild,
  ipAddress,
  renderTemplate,
  ModuleError,
  TemplateError,
  ArtifactChecksumError,
} from './modules/index.js';
export type {
  FileOptions,
  FileState,
  TemplateOptions,
  DirectoryOptions,
  LineInFileOptions,
  SysctlOptions,
  KernelModuleOptions,
  PkgOptions,
  ServiceOptions,
  CommandOptions,
  SourceBuildOptions,
  IpAddressOptions,
  TaskMeta,
} from './modules/index.js';
