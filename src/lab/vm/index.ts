// Public surface of the VM lab.
export { vmDriver, sshEndpoint, knownHostsFile, type VmUpOptions, type VmHostDriverState } from './driver.js';
export { vmLabUp, vmLabDown, defaultVmLabDir, type VmLab, type VmLabOptions } from './lab.js';
export { ensureVmImage, resolveInputs, vmImageKey, type VmImage } from './image.js';
export { sshExec, sshArgs, sshCloseMaster, type SshEndpoint } from './ssh.js';
export { agentExec } from './agent.js';
export { lvsLabHosts, lvsSection, inventoryYaml, realServerAddress, VIP, DIP, CLIENT_ADDRESS, LAN_INTERFACE } from './layout.js';
export { defaultAccel, type Accel } from './qemu.js';
