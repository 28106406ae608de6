// Where a run may be written, checked before any work: a new folder (whose parent can be written), an empty one, or
// with --resume a run of ours. A folder holding anything else is refused rather than overwritten, and so is one
// inside the dataset, whose checkpoints/ the next scan would take for a class.
import { accessSync, constants, existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

/** Files and folders a dsdnet run folder holds; one of the first two marks a folder as a run. */
const RUN_MARKERS = ['checkpoints', 'config.json'];

/** The real path of `path`, through its nearest existing ancestor when it does not exist yet. */
function realPathOf(path: string): string {
  const absolute = resolve(path);
  if (existsSync(absolute)) return realpathSync(absolute);
  const parent = dirname(absolute);
  return parent === absolute ? absolute : join(realPathOf(parent), basename(absolute));
}

function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return !(rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel));
}

/** The nearest folder at or above `path` that exists. */
function existingAncestor(path: string): string {
  let dir = resolve(path);
  while (!existsSync(dir)) dir = dirname(dir);
  return dir;
}

function writableProblem(dir: string): string | null {
  if (!statSync(dir).isDirectory()) return `${dir} is not a folder`;
  try {
    accessSync(dir, constants.W_OK);
    return null;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return `${dir} ${code === 'EROFS' ? 'is on a read-only file system' : `cannot be written (${code ?? (error as Error).message})`}`;
  }
}

/** Whether `dir` holds a dsdnet run (its config.json or checkpoints). */
function holdsRun(dir: string): boolean {
  return RUN_MARKERS.some((name) => existsSync(join(dir, name)));
}

/** Throws, naming the folder, unless a run (new, or resumed with `resume`) may be written to `out`. */
export function checkRunFolder(out: string, data: string, resume: boolean): void {
  if (existsSync(data) && isInside(realPathOf(out), realPathOf(data))) {
    throw new Error(
      `${out} is inside the dataset folder ${data}: its checkpoints/ would be scanned as a class; choose an --out outside the dataset`,
    );
  }
  if (resume) return; // readRunConfig names a folder without a run
  if (!existsSync(out)) {
    const problem = writableProblem(existingAncestor(out));
    if (problem !== null) throw new Error(`${out}: cannot create the run folder: ${problem}`);
    return;
  }
  if (!statSync(out).isDirectory()) throw new Error(`${out} exists and is not a folder; choose another --out`);
  if (holdsRun(out)) throw new Error(`${out} already holds a run; resume it with --resume or choose another --out`);
  const entries = readdirSync(out).sort();
  if (entries.length > 0) {
    const shown =
      entries
        .slice(0, 3)
        .map((e) => JSON.stringify(e))
        .join(', ') + (entries.length > 3 ? ` and ${entries.length - 3} more` : '');
    throw new Error(
      `${out} is not empty and is not a dsdnet run (it holds ${shown}); choose a new or empty folder for --out, nothing there is overwritten`,
    );
  }
  const problem = writableProblem(out);
  if (problem !== null) throw new Error(`${out}: cannot write the run: ${problem}`);
}
