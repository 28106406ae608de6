// Training progress for people (a status line redrawn in place), for scripts (JSON lines), or nothing.

export type ReportMode = 'bar' | 'jsonl' | 'quiet';

export interface StepStatus {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  loss: number;
  accuracy: number;
  imagesPerSecond: number;
  etaSeconds: number;
  lr: number;
}

export type TrainEvent =
  | ({ event: 'step' } & StepStatus)
  | { event: 'epoch'; epoch: number; [key: string]: unknown }
  | { event: 'message'; message: string }
  | { event: 'done'; [key: string]: unknown };

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  return s >= 3600
    ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
    : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

export class Reporter {
  private lastDraw = 0;
  private readonly tty = Boolean(process.stderr.isTTY);

  /** `notices`: whether notice() prints (one rank of several speaks for the run). */
  constructor(
    readonly mode: ReportMode,
    private readonly notices = true,
  ) {}

  step(status: StepStatus): void {
    if (this.mode === 'jsonl') return this.emit({ event: 'step', ...status });
    if (this.mode !== 'bar') return;
    const now = Date.now();
    const last = status.step === status.steps;
    if (!last && now - this.lastDraw < (this.tty ? 200 : 10000)) return;
    this.lastDraw = now;
    const line =
      `epoch ${status.epoch}/${status.epochs} step ${status.step}/${status.steps} loss ${status.loss.toFixed(4)} ` +
      `acc ${(100 * status.accuracy).toFixed(1)}% ${status.imagesPerSecond.toFixed(0)} img/s lr ${status.lr.toExponential(2)} ETA ${duration(status.etaSeconds)}`;
    process.stderr.write(this.tty ? `\r${line}\x1b[K` : `${line}\n`);
  }

  epoch(summary: { epoch: number; [key: string]: unknown }, text: string): void {
    if (this.mode === 'jsonl') return this.emit({ event: 'epoch', ...summary });
    if (this.mode === 'bar') process.stderr.write(`${this.tty ? '\r\x1b[K' : ''}${text}\n`);
  }

  message(message: string): void {
    if (this.mode === 'jsonl') return this.emit({ event: 'message', message });
    if (this.mode === 'bar') process.stderr.write(`${this.tty ? '\r\x1b[K' : ''}${message}\n`);
  }

  /** A message shown whatever the mode (quiet included): what happened to the user's run. */
  notice(message: string): void {
    if (!this.notices) return;
    if (this.mode === 'jsonl') return this.emit({ event: 'message', message });
    process.stderr.write(`${this.tty && this.mode === 'bar' ? '\r\x1b[K' : ''}${message}\n`);
  }

  done(summary: Record<string, unknown>): void {
    if (this.mode === 'jsonl') this.emit({ event: 'done', ...summary });
  }

  private emit(event: TrainEvent): void {
    process.stdout.write(`${JSON.stringify(event)}\n`);
  }
}
