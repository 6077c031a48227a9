// Bounds concurrent SSH channels on one connection: sshd refuses sessions past MaxSessions (10).

export class Semaphore {
  private active = 0;
  private highWater = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`semaphore size must be a positive integer, got ${max}`);
  }

  /** Resolves with a release function; calling it more than once is harmless. */
  async acquire(): Promise<() => void> {
    if (this.active < this.max) this.active++;
    // A releaser hands its slot straight to us, so `active` already counts us.
    else await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.active > this.highWater) this.highWater = this.active;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next();
      else this.active--;
    };
  }

  get inUse(): number {
    return this.active;
  }

  /** Most holders seen at once. */
  get peak(): number {
    return this.highWater;
  }
}
