// Training: snapshots for exact resume (the trainer comes with the DSDNet issue).
export { checkClassNames, readSnapshot, restoreSnapshot, saveSnapshot, SNAPSHOT_FORMAT, type SnapshotInfo, type SnapshotParts } from './snapshot.js';
