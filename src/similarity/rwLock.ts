// A read-write lock for a gallery: queries run side by side, an add (which may move shards) alone.

/** Readers side by side, one writer alone; a waiting writer holds back later readers. */
export class ReadWriteLock {
  private readers = 0;
  private writing = false;
  private queue: { write: boolean; start: () => void }[] = [];

  /** Nothing running or waiting. */
  get idle(): boolean {
    return this.readers === 0 && !this.writing && this.queue.length === 0;
  }

  private pump(): void {
    while (this.queue.length > 0 && !this.writing) {
      const next = this.queue[0];
      if (next.write && this.readers > 0) return;
      this.queue.shift();
      if (next.write) this.writing = true;
      else this.readers++;
      next.start();
      if (next.write) return;
    }
  }

  private async run<T>(write: boolean, work: () => Promise<T>): Promise<T> {
    await new Promise<void>((start) => {
      this.queue.push({ write, start });
      this.pump();
    });
    try {
      return await work();
    } finally {
      if (write) this.writing = false;
      else this.readers--;
      this.pump();
    }
  }

  read<T>(work: () => Promise<T>): Promise<T> {
    return this.run(false, work);
  }

  write<T>(work: () => Promise<T>): Promise<T> {
    return this.run(true, work);
  }
}
