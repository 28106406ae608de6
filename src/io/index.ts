// Files: safetensors, crash-safe writes, checkpoints, safe reads.
export { checkWriteTarget, errnoText, fsyncDir, writeFileAtomic } from './atomic.js';
export {
  decodeSafetensors,
  encodeSafetensors,
  type Metadata,
  readSafetensors,
  readSafetensorsMetadata,
  type SafetensorsContent,
  writeSafetensors,
} from './safetensors.js';
export {
  type Checkpoint,
  INFO_FILE,
  loadCheckpoint,
  MANIFEST_FILE,
  MODEL_FILE,
  readCheckpointFile,
  resolveCheckpoint,
  saveCheckpoint,
  STATE_FILE,
} from './checkpoint.js';
export { decodeNpy, encodeNpy, readNpy, writeNpy } from './npy.js';
export { holdsControlCharacter, markdownCell, printable } from './printable.js';
export { openRegularFile, readBytes, statForReading } from './read.js';
export {
  decodeTorchFile,
  readTorchFile,
  type TorchFileContent,
  type TorchReadOptions,
  type TorchValue,
} from './pytorch.js';
export { formatBytes, MAX_WEIGHT_BYTES_ENV, maxWeightBytes } from './limits.js';
