// The generic modules: factories returning Tasks. Nothing here knows about LVS.
export { ModuleError, TemplateError, ArtifactChecksumError } from './errors.js';
export { file, fileProbe, planFile, atomicWriteStep, type FileOptions, type FileState, type DesiredFile } from './file.js';
export { template, renderTemplate, type TemplateOptions } from './template.js';
export { directory, type DirectoryOptions, type DirectoryState } from './directory.js';
export { lineInFile, editLines, planLineEdit, type LineInFileOptions } from './line-in-file.js';
export { sysctl, type SysctlOptions, type SysctlState } from './sysctl.js';
export { kernelModule, type KernelModuleOptions, type KernelModuleState } from './kernel-module.js';
export { pkg, versionMatches, type PkgOptions, type PkgState } from './pkg.js';
export { retiredService, service, serviceRestart, type ServiceOptions, type ServiceState } from './service.js';
export { command, type CommandOptions, type CommandState } from './command.js';
export { sourceBuild, type SourceBuildOptions, type SourceBuildState } from './source-build.js';
export type { TaskMeta } from './util.js';
export { ipAddress, type IpAddressOptions, type IpAddressState } from './ip-address.js';
export { defaultRoute, type DefaultRouteState } from './default-route.js';
