// Public surface of the VM lab.
export { vmDriver } from './driver.js';
export { sshEndpoint, knownHostsFile, type VmHostDriverState } from './host-state.js';
export type { VmUpOptions } from './lifecycle.js';
export { vmLabUp, vmLabDown, defaultVmLabDir, type VmLab, type VmLabOptions } from './lab.js';
export { ensureVmImage, resolveInputs, vmImageKey, type VmImage } from './image.js';
export { sshExec, sshArgs, sshCloseMaster, type SshEndpoint } from './ssh.js';
export { agentExec } from './agent.js';
export { lvsLabHosts, lvsSection, inventoryYaml, realServerAddress, VIP, DIP, CLIENT_ADDRESS, LAN_INTERFACE } from './layout.js';
export { defaultAccel, type Accel } from './qemu.js';
