// A progress bar on stderr for long jobs: redrawn in place on a terminal, a line every few seconds otherwise.

export class Progress {
  private done = 0;
  private lastDraw = 0;
  private readonly started = Date.now();
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly enabled = true,
  ) {}

  tick(count = 1): void {
    this.done += count;
    const now = Date.now();
    if (!this.enabled || (now - this.lastDraw < (this.tty ? 100 : 5000) && this.done < this.total)) return;
    this.lastDraw = now;
    const fraction = this.total === 0 ? 1 : this.done / this.total;
    const elapsed = (now - this.started) / 1000;
    const rate = this.done / Math.max(elapsed, 1e-3);
    const eta = rate > 0 ? (this.total - this.done) / rate : 0;
    const width = 30;
    const bar = '#'.repeat(Math.round(fraction * width)).padEnd(width, '.');
    const text = `${this.label} [${bar}] ${this.done}/${this.total} ${rate.toFixed(0)}/s ETA ${eta.toFixed(0)}s`;
    process.stderr.write(this.tty ? `\r${text}${this.done >= this.total ? '\n' : ''}` : `${text}\n`);
  }
}
