// A training run spread over the ranks of a process group: gradients averaged during every backward pass (bucketed
// all-reduce overlapping it), BatchNorm statistics the same everywhere (rank 0's, or synchronised batch norm's), all
// ranks stopping at the same step, the epoch's sums added up, and the test set evaluated in shards whose predictions
// are put together on every rank.
import type { DecodedImages } from '../data/index.js';
import { DataParallel, type ProcessGroup, syncBatchNorm } from '../distributed/index.js';
import type { SelfDistillationNet } from '../dsd/index.js';
import { computeMetrics, evaluate, type EvaluateOptions, type Metrics } from '../eval/index.js';
import { tensor, tidy } from '../torch/index.js';
import type { Progress, Synchronizer } from './loop.js';

/** What c10d says when a peer is gone: Gloo's transport errors (`pair.cc`, a connection reset or closed), a timeout. */
const PEER_LOST = /pair\.cc|connection (reset|closed|refused)|closed by peer|timed out|NCCL communicator was aborted/i;

/**
 * Runs a collective step; when another rank has gone (killed, crashed), c10d's error (Gloo's `pair.cc:589 Read
 * error`...) becomes one saying which rank saw what and how the run continues.
 */
function collective<T>(group: ProcessGroup, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    const detail = (error as Error).message.split('\n')[0];
    if (!PEER_LOST.test(detail)) throw error;
    throw new Error(
      `rank ${group.rank} of ${group.worldSize}: ${what} failed, most likely because another rank stopped (its own output says why; c10d: ${detail}). ` +
        'checkpoints/latest keeps the last completed save: the run continues with --resume',
      { cause: error },
    );
  }
}

/**
 * The synchronizer of the loop, after copying rank 0's weights and BatchNorm statistics to every rank. With
 * `syncBatchNorm`, batch norm layers normalise with the whole global batch's statistics; otherwise each rank uses its
 * own share's and rank 0's running statistics are copied to the others after every step.
 */
export function replicate(
  group: ProcessGroup,
  net: SelfDistillationNet,
  options: { syncBatchNorm?: boolean } = {},
): Synchronizer {
  const parallel = new DataParallel(group, net.parameters());
  const buffers = net
    .namedBuffers()
    .map(([, b]) => b)
    .filter((b) => b.dtype === 'float32');
  // Every rank starts from rank 0's state, as DistributedDataParallel does.
  parallel.broadcastFromRankZero([...net.parameters(), ...buffers]);
  const synchronised = options.syncBatchNorm === true && syncBatchNorm(net, group) > 0;
  const sync: Synchronizer = {
    backward: (loss) =>
      collective(group, 'the backward pass (gradient all-reduce)', () => {
        parallel.backward(loss);
        if (!synchronised) parallel.broadcastFromRankZero(buffers);
      }),
    anyInterrupted: (local) =>
      collective(group, 'agreeing on a stop', () =>
        tidy(() => {
          const flag = tensor([local ? 1 : 0], { dtype: 'float32', device: group.device });
          group.allReduce([flag], 'max');
          return flag.item() > 0;
        }),
      ),
    total: (sums) =>
      collective(group, "adding up the epoch's sums", () =>
        tidy(() => {
          const keys = Object.keys(sums.parts).sort();
          const values = tensor([sums.loss, sums.correct, sums.seen, ...keys.map((k) => sums.parts[k])], {
            dtype: 'float64',
            device: group.device,
          });
          group.allReduce([values]);
          const [loss, correct, seen, ...parts] = Array.from(values.data() as Float64Array);
          const total: Progress['sums'] = {
            loss,
            correct,
            seen,
            seconds: sums.seconds,
            parts: Object.fromEntries(keys.map((k, i) => [k, parts[i]])),
          };
          return total;
        }),
      ),
  };
  return sync;
}

/** Evaluates on the ranks' shares of `indices` and puts the predictions together: every rank gets the same metrics. */
export function evaluateOnRanks(
  group: ProcessGroup,
  model: SelfDistillationNet['backbone'],
  images: DecodedImages,
  indices: readonly number[],
  classNames: readonly string[],
  options: EvaluateOptions,
): Metrics {
  const share = Math.ceil(indices.length / group.worldSize);
  const start = Math.min(indices.length, group.rank * share);
  const mine = indices.slice(start, start + share);
  const { predictions } = evaluate(model, images, mine, classNames, options);
  const all = collective(group, 'gathering the test predictions', () =>
    tidy(() => {
      // Each rank fills its own slots with prediction + 1, zeros elsewhere; the sum is everyone's predictions + 1.
      const slots = new Float64Array(indices.length);
      predictions.forEach((p, i) => (slots[start + i] = p + 1));
      const combined = tensor(Array.from(slots), { dtype: 'float64', device: group.device });
      group.allReduce([combined]);
      return Array.from(combined.data() as Float64Array, (v) => v - 1);
    }),
  );
  return computeMetrics(
    indices.map((i) => images.labels[i]),
    all,
    classNames,
  );
}
