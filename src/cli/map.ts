// `dsdnet map MODEL SCENE -o MAP`: a land-use map of a whole GeoTIFF scene (src/map). Ctrl-C or SIGTERM saves the
// windows scored so far and exits 130 / 143; the same command run again continues from them.
import { constants } from 'node:os';

import type { Command } from 'commander';

import { MapInterrupted, mapScene, MIN_TILE } from '../map/index.js';
import type { Device } from '../torch/index.js';
import { DEVICE_HELP, integerIn, parseBands, parseDevice, parsePositiveInteger, warn } from './options.js';

interface MapFlags {
  output: string;
  tile: number;
  stride: number;
  batch: number;
  bands?: number[];
  probabilities?: string;
  device: Device;
  maxMemory: number;
  overwrite?: boolean;
  progress: boolean;
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

export function registerMapCommand(program: Command): void {
  program
    .command('map')
    .argument('<model>', 'run folder, checkpoint or exported model.onnx')
    .argument(
      '<scene>',
      'the GeoTIFF to map (8-, 16-, 32-bit or float samples, striped or tiled; read a window at a time)',
    )
    .requiredOption(
      '-o, --output <map.tif>',
      "the class map: a tiled, deflate-compressed GeoTIFF (uint8 class indices with a colour table, 255 = nodata) with the scene's georeferencing and the class names; a preview with a legend is written beside it (map.png)",
    )
    .option(
      '--tile <px>',
      `window size in scene pixels (at least ${MIN_TILE}); each window is resized to the model's decode size as dsdnet prepares an image`,
      integerIn(MIN_TILE, 8192),
      256,
    )
    .option(
      '--stride <px>',
      'step between windows, at most --tile; overlapping windows are blended with a Hann weight',
      parsePositiveInteger,
      128,
    )
    .option('--batch <n>', 'windows scored together (fewer when --max-memory demands it)', integerIn(1, 4096), 32)
    .option(
      '--bands <list>',
      "the scene's bands as RGB, 1-based (e.g. 4,3,2), or one band as grey; default the model's, else the first three",
      parseBands,
    )
    .option(
      '--probabilities <probs.tif>',
      'also write per-class probabilities: one uint8 band per class (probability x 255, GDAL scale 1/255), same georeferencing; refused when it would pass 4 GiB uncompressed (classic TIFF)',
    )
    .option(
      '--device <device>',
      `${DEVICE_HELP} (cpu: ONNX Runtime; a GPU scores a run folder with libtorch)`,
      parseDevice,
      'cpu',
    )
    .option(
      '--max-memory <MB>',
      "bound of the map's own buffers (window batches, the strip being written, the scene region read); the model's memory is not counted",
      integerIn(1),
      256,
    )
    .option('--overwrite', 'replace existing outputs (never done otherwise)')
    .option('--no-progress', 'no progress bar on stderr')
    .description(
      'a land-use map of a whole GeoTIFF: every --tile window (every --stride px, padded past the right and bottom edges by mirroring) is classified, and each pixel gets ' +
        'the class of the Hann-weighted average of the windows covering it. 8-bit scenes are used as they are; wider samples are stretched ' +
        "to 0..255 by the model's --scale (a fixed range, or percentiles taken once from a sample of the whole scene, so every window shares one stretch). " +
        "Pixels whose chosen bands all equal the scene's GDAL_NODATA are nodata (255) in the map, and windows that are all nodata are not scored; " +
        'without GDAL_NODATA no pixel is nodata. A scene without georeferencing is mapped with a warning. Outputs are written to temporary files and renamed ' +
        'at the end; existing ones are refused unless --overwrite. Window probabilities are saved beside the map (MAP.progress): Ctrl-C or SIGTERM stops ' +
        'after saving, and the same command run again continues; another scene, model or setting is refused by name.',
    )
    .action(async (model: string, scene: string, flags: MapFlags) => {
      const controller = new AbortController();
      const onSignal = (signal: NodeJS.Signals): void => {
        if (controller.signal.aborted) process.exit(128 + constants.signals[signal]); // a second signal: at once
        process.stderr.write(`\n${signal}: stopping after the current batch, saving the windows scored so far\n`);
        controller.abort(signal);
      };
      for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
      try {
        const result = await mapScene({
          model,
          scene,
          output: flags.output,
          tile: flags.tile,
          stride: flags.stride,
          batch: flags.batch,
          bands: flags.bands,
          probabilities: flags.probabilities,
          device: flags.device,
          maxMemoryMB: flags.maxMemory,
          overwrite: flags.overwrite,
          signal: controller.signal,
          showProgress: flags.progress,
          warn,
        });
        const { grid, plan, scored, resumedFrom, skipped, scoreSeconds, renderSeconds } = result;
        const total = result.classPixels.reduce((a, b) => a + b, 0);
        const shares = result.classNames
          .map((name, i) => `${name} ${((100 * result.classPixels[i]) / total).toFixed(1)}%`)
          .concat(`nodata ${((100 * result.classPixels.at(-1)!) / total).toFixed(1)}%`);
        console.log(
          `dsdnet map: ${flags.output} (${grid.width} x ${grid.height} px, ${grid.count} windows of ${grid.tile} px every ${grid.stride} px` +
            `${resumedFrom > 0 ? `, ${resumedFrom} done before` : ''}; ${scored} scored in ${scoreSeconds.toFixed(1)} s, ${(scored / Math.max(scoreSeconds, 1e-3)).toFixed(1)} windows/s; ${skipped} all nodata; ` +
            `rendered in ${renderSeconds.toFixed(1)} s; batch ${plan.batch}, strips of ${plan.stripRows} rows, buffers <= ${(plan.bytes / 2 ** 20).toFixed(1)} MB)` +
            `${flags.probabilities ? `, ${flags.probabilities}` : ''}, preview ${result.preview}\n  ${shares.join(', ')}`,
        );
      } catch (error) {
        if (!(error instanceof MapInterrupted)) throw error;
        process.stderr.write(`dsdnet map: ${error.message}\n`);
        process.exit(128 + constants.signals[error.reason as NodeJS.Signals]);
      } finally {
        for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
      }
    });
}
