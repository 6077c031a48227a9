// The controller side of the run lock for the commands that change hosts (up, drain, undrain,
// rollback): the state dir's lock for the whole command, released on exit and on Ctrl-C.
import { acquireControllerLock, lockOwner, whileInterruptible, type LockOwner } from '../core/run-lock.js';

export async function withRunLock<T>(stateDir: string, operation: string, f: (owner: LockOwner) => Promise<T>): Promise<T> {
  const owner = lockOwner(operation);
  const held = acquireControllerLock(stateDir, owner);
  try {
    return await whileInterruptible(
      () => held.release(),
      () => f(owner),
    );
  } finally {
    held.release();
  }
}
