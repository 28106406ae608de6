// Files: safetensors, crash-safe writes, checkpoints.
export { fsyncDir, writeFileAtomic } from './atomic.js';
export { decodeSafetensors, encodeSafetensors, type Metadata, readSafetensors, type SafetensorsContent, writeSafetensors } from './safetensors.js';
export { type Checkpoint, INFO_FILE, loadCheckpoint, MODEL_FILE, resolveCheckpoint, saveCheckpoint, STATE_FILE } from './checkpoint.js';
export { decodeNpy, readNpy } from './npy.js';
export { packageRoot, sharedDir } from './package-root.js';
export { decodeTorchFile, readTorchFile, type TorchFileContent, type TorchValue } from './pytorch.js';
