// `dsdnet train`.
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join, resolve } from 'node:path';

import { type Command, Option } from 'commander';

import { optionsFromEnv, ProcessGroup } from '../distributed/index.js';
import { CONDITIONS, DEFAULT_NOISE_SCHEDULE, DISTILL_MODES, METHODS } from '../dsd/index.js';
import { BACKBONES, BOTTLENECK_STRIDES } from '../models/index.js';
import { type Device, sharedDir } from '../torch/index.js';
import {
  checkMethodFlags,
  checkRunFolder,
  overridesFromFlags,
  PRECISION_SETTINGS,
  readPreset,
  readRunConfig,
  resolveConfig,
  resumeContradictions,
  type RunFlags,
  summarize,
  train,
} from '../train/index.js';
import { AUGMENTS, MIN_SIZE, OPTIMIZERS, type TrainConfig } from '../trained/index.js';
import { launchWorkers, workerArguments } from './launch.js';
import {
  DEVICE_HELP,
  integerIn,
  parseBands,
  parseDevice,
  parseFraction,
  parseNonNegative,
  parsePositiveInteger,
  parseScale,
  rankDevice,
} from './options.js';

/** UC Merced beside the project (../shared/datasets/ucmerced), the default dataset. */
function defaultDataset(): string {
  return join(sharedDir(), 'datasets', 'ucmerced');
}

/** The run's settings (RunFlags), and how and where it trains. */
interface TrainFlags extends RunFlags {
  preset: string;
  device: Device;
  out?: string;
  resume?: boolean;
  quiet?: boolean;
  jsonl?: boolean;
  nprocPerNode?: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  masterPort: number;
  syncBn?: boolean;
}

/** `text` as one shell word (for commands printed to be pasted). */
const shellQuote = (text: string): string =>
  /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;

/**
 * A worker started by the launcher stops when the launcher is gone (killed outright, its IPC channel closes): as on
 * SIGTERM, it saves between steps and exits; before training starts it just exits.
 */
function stopWithLauncher(): void {
  if (process.channel === undefined) return;
  process.channel.unref();
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}

export function registerTrainCommand(program: Command): void {
  program
    .command('train')
    .argument('[dir]', 'dataset folder (default: ../shared/datasets/ucmerced)')
    .description('train a classifier (plain, sd or dsd) and write a run folder with metrics, checkpoints and a report')
    .option('--preset <name>', 'finetune | finetune-r50 | cpu | paper | a JSON file', 'cpu')
    .addOption(new Option('--method <m>', 'training method').choices(METHODS))
    .addOption(new Option('--backbone <b>', 'backbone').choices(BACKBONES))
    .addOption(
      new Option(
        '--bottleneck-stride <s>',
        "resnet50: stride its downsampling bottlenecks on the 3x3 conv (torchvision's v1.5) or the 1x1 (the original v1); default 1x1 with --pretrained imagenet (those weights are v1), else 3x3",
      ).choices(BOTTLENECK_STRIDES),
    )
    .option('--size <px>', `input size (at least ${MIN_SIZE})`, integerIn(MIN_SIZE))
    .option('--epochs <n>', 'epochs', parsePositiveInteger)
    .option('--batch-size <n>', 'batch size (at least 2, for BatchNorm)', integerIn(2))
    .addOption(new Option('--optimizer <o>', 'optimizer').choices(OPTIMIZERS))
    .option('--lr <lr>', 'backbone learning rate (heads get 10x)', parseNonNegative)
    .option('--ratio <r>', 'training fraction of each class (default 0.8)', parseFraction)
    .option(
      '--seed <s>',
      'seed of the split, the initialisation and the augmentation',
      integerIn(0, Number.MAX_SAFE_INTEGER),
    )
    .addOption(new Option('--split <file>', 'use this split file instead of --ratio').conflicts('ratio'))
    .addOption(new Option('--distill <d>', 'distillation loss (default soft-ce)').choices(DISTILL_MODES))
    .addOption(
      new Option('--condition <c>', 'what the diffusion loss conditions on (default refined)').choices(CONDITIONS),
    )
    .option(
      '--ddim-steps <n>',
      `DDIM steps of the generation (default 5, at most ${DEFAULT_NOISE_SCHEDULE.gridSteps})`,
      integerIn(1, DEFAULT_NOISE_SCHEDULE.gridSteps),
    )
    .option('--entropy-weight <w>', 'weight of the entropy bonus (default 0.5; 0 removes it)', parseNonNegative)
    .addOption(new Option('--augment <a>', 'augmentation').choices(AUGMENTS))
    .option(
      '--pretrained <source>',
      "initial backbone weights: 'imagenet', a PyTorch .pth, a safetensors file, a folder of .npy tensors, or 'none'",
    )
    .addOption(
      new Option(
        '--precision <p>',
        'fp32 | bf16 (bfloat16 mixed precision: float32 weights, bf16 convolutions) | auto (bf16 where the CPU has it natively)',
      ).choices(PRECISION_SETTINGS),
    )
    .option('--channels-last', 'store convolution weights and activations channels-last (NHWC; the default)')
    .option('--no-channels-last', 'keep them row-major (NCHW)')
    .option(
      '--skip-bad',
      'leave out image files that fail the scan or the decoding, with a warning, instead of stopping',
    )
    .option(
      '--bands <list>',
      'image bands to use, counted from 1: one (grey) or three (as R,G,B), e.g. 4,3,2 for NIR false colour (default: the first three)',
      parseBands,
    )
    .option(
      '--scale <s>',
      "how 16-bit and float samples become 8-bit: 'percentile' (2nd-98th per image, the default), 'percentile:LOW:HIGH', or a fixed 'MIN:MAX' such as 0:4095",
      parseScale,
    )
    .option('--out <dir>', 'run folder (default runs/<method>-<backbone>-<time>)')
    .option('--resume', 'continue the run in --out where it stopped')
    .option('--threads <n>', 'libtorch threads', parsePositiveInteger)
    .option(
      '--device <device>',
      `${DEVICE_HELP}; with --nproc-per-node, each rank takes its own GPU (cuda:LOCAL_RANK) and NCCL`,
      parseDevice,
      'cpu',
    )
    .option(
      '--nproc-per-node <n>',
      'data-parallel training: start n worker processes on this machine (as torchrun), sharing the cores; --batch-size is the global batch',
      parsePositiveInteger,
    )
    .option(
      '--nnodes <n>',
      'machines taking part (each runs the same command with its own --node-rank)',
      parsePositiveInteger,
      1,
    )
    .option('--node-rank <r>', "this machine's place among them", integerIn(0), 0)
    .option('--master-addr <host>', 'the machine of rank 0 (hosts the rendezvous)', '127.0.0.1')
    .option('--master-port <p>', 'its port', integerIn(1, 65535), 29500)
    .option(
      '--sync-bn',
      "with several processes: batch norm over the whole global batch (SyncBatchNorm) rather than each process's share",
    )
    .addOption(new Option('--quiet', 'no progress output').conflicts('jsonl'))
    .option('--jsonl', 'progress as JSON lines on stdout')
    .action(async (dir: string | undefined, flags: TrainFlags, command: Command) => {
      // The preset is read where it is used: a new run's settings, or a resumed run's check against --preset.
      const presetGiven = command.getOptionValueSource('preset') !== 'default';
      let config: TrainConfig;
      let out: string;
      if (flags.resume) {
        if (!flags.out) throw new Error('--resume needs --out RUN_DIR');
        out = resolve(flags.out);
        config = readRunConfig(out);
        const found = resumeContradictions(dir, flags, presetGiven ? readPreset(flags.preset) : null, config);
        if (found.length > 0) {
          throw new Error(
            `--resume continues ${out} exactly as its config.json says, and these contradict it: ${found.join('; ')}. Leave them out, or start a new run (another --out) to change them.`,
          );
        }
      } else {
        if (dir === undefined)
          process.stderr.write(`no dataset folder given: training on UC Merced (${defaultDataset()})\n`);
        const preset = readPreset(flags.preset);
        config = resolveConfig(
          resolve(dir ?? defaultDataset()),
          preset,
          overridesFromFlags(flags, preset),
          flags.device,
        );
        out = resolve(
          flags.out ??
            join('runs', `${config.method}-${config.backbone}-${new Date().toISOString().replace(/[:.]/g, '-')}`),
        );
      }
      checkMethodFlags(flags, config.method);
      const report = flags.jsonl ? 'jsonl' : flags.quiet ? 'quiet' : 'bar';
      if (flags.nprocPerNode !== undefined || flags.nnodes > 1) {
        if (flags.nodeRank >= flags.nnodes)
          throw new Error(`--node-rank ${flags.nodeRank} is not below --nnodes ${flags.nnodes}`);
        // Every worker must write to the same run folder, so the launcher fixes it.
        const args = [...workerArguments(process.argv.slice(2)), ...(flags.out === undefined ? ['--out', out] : [])];
        // The workers write the run folder; the launcher checks it before starting them.
        checkRunFolder(out, config.data, flags.resume === true);
        const multiNode =
          flags.nnodes > 1
            ? ` --nnodes ${flags.nnodes} --node-rank ${flags.nodeRank} --master-addr ${shellQuote(flags.masterAddr)} --master-port ${flags.masterPort}`
            : '';
        const resumeCommand = `dsdnet train --resume --out ${shellQuote(out)} --nproc-per-node ${flags.nprocPerNode ?? 1}${multiNode}`;
        const launch = {
          nprocPerNode: flags.nprocPerNode ?? 1,
          nnodes: flags.nnodes,
          nodeRank: flags.nodeRank,
          masterAddr: flags.masterAddr,
          masterPort: flags.masterPort,
          resumeCommand,
        };
        if (report === 'bar')
          process.stderr.write(`run folder: ${out} (${launch.nprocPerNode * launch.nnodes} processes)\n`);
        process.exitCode = await launchWorkers(process.argv[1], args, launch);
        return;
      }
      stopWithLauncher();
      const device = rankDevice(flags.device);
      const onGpu = device !== 'cpu';
      const group =
        Number(process.env.WORLD_SIZE ?? 1) > 1
          ? ProcessGroup.init({ ...optionsFromEnv(), ...(onGpu ? { backend: 'nccl', device } : {}) })
          : undefined;
      if (report === 'bar' && (group?.rank ?? 0) === 0)
        process.stderr.write(`run folder: ${out}${onGpu ? ` (on ${device})` : ''}\n`);
      const result = await train(config, {
        out,
        resume: flags.resume,
        report,
        group,
        syncBatchNorm: flags.syncBn,
        device,
      });
      // Stopped by a signal: the exit code says so (128 + its number), as a scheduler expects of a preempted job.
      if (result.signal !== undefined) process.exitCode = 128 + constants.signals[result.signal];
      else if (result.interrupted) process.exitCode = 1;
      if (group && group.rank !== 0) return;
      if (report !== 'jsonl') console.log(summarize(result));
      if (result.final && report === 'bar')
        console.log(readFileSync(join(out, 'report.md'), 'utf8').split('\n').slice(0, 4).join('\n'));
    });
}
