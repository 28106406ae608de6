// `dsdnet train` and `dsdnet info`.
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join, resolve } from 'node:path';

import { type Command, Option } from 'commander';

import type { SampleScale } from '../data/index.js';
import { optionsFromEnv, ProcessGroup } from '../distributed/index.js';
import { sharedDir } from '../torch/index.js';
import { CONDITIONS, DEFAULT_NOISE_SCHEDULE, DISTILL_MODES, type MethodName, METHODS } from '../dsd/index.js';
import { BACKBONES, BOTTLENECK_STRIDES } from '../models/index.js';
import { type Device, setNumThreads } from '../torch/index.js';
import {
  checkRunFolder,
  type ConfigSettings,
  PRECISION_SETTINGS,
  type PrecisionSetting,
  readPreset,
  readRunConfig,
  resolveConfig,
  resolvePrecision,
  summarize,
  train,
} from '../train/index.js';
import { AUGMENTS, loadModel, MIN_SIZE, OPTIMIZERS, type TrainConfig } from '../trained/index.js';
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

interface TrainFlags {
  preset: string;
  device: Device;
  method?: string;
  backbone?: string;
  bottleneckStride?: string;
  size?: number;
  epochs?: number;
  batchSize?: number;
  optimizer?: string;
  lr?: number;
  ratio?: number;
  seed?: number;
  split?: string;
  distill?: string;
  condition?: string;
  ddimSteps?: number;
  entropyWeight?: number;
  augment?: string;
  pretrained?: string;
  precision?: string;
  channelsLast?: boolean;
  out?: string;
  resume?: boolean;
  quiet?: boolean;
  jsonl?: boolean;
  threads?: number;
  skipBad?: boolean;
  bands?: number[];
  scale?: SampleScale;
  nprocPerNode?: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  masterPort: number;
  syncBn?: boolean;
}

function overridesFrom(flags: TrainFlags, preset: ConfigSettings): ConfigSettings {
  const o: ConfigSettings = {};
  if (flags.method !== undefined) o.method = flags.method as TrainConfig['method'];
  if (flags.backbone !== undefined) o.backbone = flags.backbone as TrainConfig['backbone'];
  if (flags.bottleneckStride !== undefined)
    o.bottleneckStride = flags.bottleneckStride as TrainConfig['bottleneckStride'];
  if (flags.size !== undefined) o.size = flags.size;
  if (flags.epochs !== undefined) o.epochs = flags.epochs;
  if (flags.batchSize !== undefined) o.batchSize = flags.batchSize;
  if (flags.optimizer !== undefined) o.optimizer = flags.optimizer as TrainConfig['optimizer'];
  if (flags.lr !== undefined) o.lr = flags.lr;
  if (flags.augment !== undefined) o.augment = flags.augment as TrainConfig['augment'];
  if (flags.seed !== undefined) o.seed = flags.seed;
  if (flags.pretrained !== undefined)
    o.pretrained =
      flags.pretrained === 'none' ? null : flags.pretrained === 'imagenet' ? 'imagenet' : resolve(flags.pretrained);
  if (flags.precision !== undefined) o.precision = flags.precision as PrecisionSetting;
  if (flags.channelsLast !== undefined) o.channelsLast = flags.channelsLast;
  if (flags.skipBad !== undefined) o.skipBad = flags.skipBad;
  if (flags.bands !== undefined) o.bands = flags.bands;
  if (flags.scale !== undefined) o.scale = flags.scale;
  if (flags.split !== undefined) o.split = { file: resolve(flags.split) };
  else if (flags.ratio !== undefined || flags.seed !== undefined)
    o.split = { ratio: flags.ratio ?? 0.8, seed: flags.seed ?? 0 };
  const method = { ...preset.methodOptions };
  if (flags.distill !== undefined) method.distill = flags.distill as 'soft-ce' | 'released';
  if (flags.condition !== undefined) method.condition = flags.condition as 'refined' | 'student';
  if (flags.ddimSteps !== undefined) method.ddimSteps = flags.ddimSteps;
  if (flags.entropyWeight !== undefined) method.entropyWeight = flags.entropyWeight;
  o.methodOptions = method as TrainConfig['methodOptions'];
  if (o.epochs !== undefined && preset.warmupEpochs !== undefined && preset.warmupEpochs >= o.epochs)
    o.warmupEpochs = Math.max(0, Math.floor(o.epochs / 6));
  return o;
}

const differs = (a: unknown, b: unknown): boolean => JSON.stringify(a) !== JSON.stringify(b);

/** The method options that mean nothing to a method: all four for plain, the diffusion's two for sd. */
const IDLE_METHOD_FLAGS: Record<MethodName, (keyof TrainFlags)[]> = {
  plain: ['distill', 'condition', 'ddimSteps', 'entropyWeight'],
  sd: ['condition', 'ddimSteps'],
  dsd: [],
};

/** Refuses flags that the run's method ignores (they would be taken silently and change nothing). */
function checkMethodFlags(flags: TrainFlags, method: MethodName): void {
  const idle = IDLE_METHOD_FLAGS[method].filter((name) => flags[name] !== undefined);
  if (idle.length === 0) return;
  const shown = idle
    .map((name) => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} ${String(flags[name])}`)
    .join(', ');
  const why = method === 'plain' ? 'trains without self-distillation' : 'has no diffusion modules';
  throw new Error(
    `--method ${method} ${why}, so ${shown} would change nothing; leave ${idle.length > 1 ? 'them' : 'it'} out or choose ${method === 'plain' ? '--method sd or dsd' : '--method dsd'}`,
  );
}

/**
 * What the command line asks of a resumed run that its config.json does not say, as "setting value (the run has X)".
 * With --preset, the command line must describe the whole run, as it would for a new one; without, only the flags
 * given are compared. A run resumes exactly as it started, so differences are refused rather than applied.
 */
function contradictions(
  dir: string | undefined,
  flags: TrainFlags,
  preset: ConfigSettings | null,
  saved: TrainConfig,
): string[] {
  const found: string[] = [];
  const check = (name: string, given: unknown, has: unknown): void => {
    if (given !== undefined && differs(given, has))
      found.push(`${name} ${JSON.stringify(given)} (the run has ${JSON.stringify(has)})`);
  };
  const data = dir === undefined ? saved.data : resolve(dir);
  check('dataset', data, saved.data);
  const { split, methodOptions, ...rest } =
    preset === null ? overridesFrom(flags, {}) : resolveConfig(data, preset, overridesFrom(flags, preset));
  if (rest.precision !== undefined) rest.precision = resolvePrecision(rest.precision);
  for (const [key, value] of Object.entries(rest))
    if (key !== 'data') check(key, value, saved[key as keyof TrainConfig]);
  for (const [key, value] of Object.entries(methodOptions ?? {}))
    check(key, value, saved.methodOptions[key as keyof TrainConfig['methodOptions']]);
  if (preset !== null) check('split', split, saved.split);
  else {
    check('ratio', flags.ratio, 'ratio' in saved.split ? saved.split.ratio : undefined);
    check(
      'split',
      flags.split === undefined ? undefined : resolve(flags.split),
      'file' in saved.split ? saved.split.file : undefined,
    );
  }
  return found;
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

export function registerTrainCommands(program: Command): void {
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
      if (flags.threads !== undefined) setNumThreads(flags.threads);
      const preset = readPreset(flags.preset);
      let config: TrainConfig;
      let out: string;
      if (flags.resume) {
        if (!flags.out) throw new Error('--resume needs --out RUN_DIR');
        out = resolve(flags.out);
        config = readRunConfig(out);
        const found = contradictions(
          dir,
          flags,
          command.getOptionValueSource('preset') === 'default' ? null : preset,
          config,
        );
        if (found.length > 0) {
          throw new Error(
            `--resume continues ${out} exactly as its config.json says, and these contradict it: ${found.join('; ')}. Leave them out, or start a new run (another --out) to change them.`,
          );
        }
      } else {
        if (dir === undefined)
          process.stderr.write(`no dataset folder given: training on UC Merced (${defaultDataset()})\n`);
        config = resolveConfig(resolve(dir ?? defaultDataset()), preset, overridesFrom(flags, preset), flags.device);
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

  program
    .command('info')
    .argument('<checkpoint>', 'run folder, checkpoint folder or model.safetensors')
    .description('what a checkpoint holds: backbone, input size, classes, training state')
    .action((checkpoint: string) => {
      const loaded = loadModel(checkpoint);
      const info = loaded.info;
      console.log(`checkpoint: ${loaded.source}`);
      console.log(
        `backbone: ${loaded.backbone} (${loaded.model.numParameters().toLocaleString('en-US')} parameters), input ${loaded.size} px`,
      );
      console.log(`classes (${loaded.classNames.length}): ${loaded.classNames.join(', ')}`);
      if (info.config)
        console.log(
          `method: ${info.config.method}, epoch ${info.epoch}/${info.config.epochs}, iteration ${info.iteration}`,
        );
      loaded.model.dispose();
    });
}
