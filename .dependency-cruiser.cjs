// The layering rules of src/ (README, "Layout"), checked by `npm run lint`.
//
// Rooms stand on floors; data flows one way, up the floors:
//
//   native/ (the addon, C++)
//   0  torch
//   1  nn, optim, io
//   2  models, data, distributed
//   3  weights, dsd
//   4  trained (a trained model: its settings, loading, scoring)
//   5  train, eval
//   6  export, serve, explain, map
//   7  cli
//
// A room may import its own files and the rooms on lower floors. Never a room on a higher floor, and a room on its
// own floor only where SAME_FLOOR below says so. src/index.ts (the package's barrel) stands above them all and no
// room imports it.
//
// Barrels: a file imports another room through that room's index.ts, never one of its files directly. The one
// exception is src/torch/native.ts, the addon's binding: it is not public (not in torch's index.ts), and a room that
// binds its own native calls (distributed: c10d) imports it.

const FLOORS = [
  ['torch'],
  ['nn', 'optim', 'io'],
  ['models', 'data', 'distributed'],
  ['weights', 'dsd'],
  ['trained'],
  ['train', 'eval'],
  ['export', 'serve', 'explain', 'map'],
  ['cli'],
];

// Imports between rooms on the same floor, each with its reason. Nothing else on a floor imports its neighbours.
const SAME_FLOOR = {
  // The trainer evaluates on the validation split after each epoch and writes the curves.
  train: ['eval'],
  // The server runs the ONNX files that export writes and reads their metadata.
  serve: ['export'],
  // A map's windows are scored by the model as the server holds it (ONNX Runtime on the CPU, libtorch on a GPU).
  map: ['serve'],
};

// Files of a room that other rooms may import directly, past its index.ts.
const BARREL_BYPASS = ['^src/torch/native\\.ts$'];

const floorOf = new Map(FLOORS.flatMap((rooms, floor) => rooms.map((room) => [room, floor])));

const upward = [...floorOf].map(([room, floor]) => {
  const allowed = new Set([room, ...(SAME_FLOOR[room] ?? [])]);
  const above = [...floorOf].filter(([other, f]) => f >= floor && !allowed.has(other)).map(([other]) => other);
  return {
    name: `layers-${room}`,
    comment: `src/${room} (floor ${floor}) may import only rooms on lower floors${
      SAME_FLOOR[room] ? ` and, on its own floor, ${SAME_FLOOR[room].join(', ')}` : ''
    }`,
    severity: 'error',
    from: { path: `^src/${room}/` },
    to: { path: `^src/(${above.join('|')})/` },
  };
});

module.exports = {
  forbidden: [
    ...upward.filter((rule) => rule.to.path !== '^src/()/'),
    {
      name: 'no-unknown-room',
      comment: 'every folder under src/ is a room on a floor (add a new one to FLOORS)',
      severity: 'error',
      from: { path: '^src/[^/]+/', pathNot: `^src/(${[...floorOf.keys()].join('|')})/` },
      to: {},
    },
    {
      name: 'no-package-barrel',
      comment: "src/index.ts is the package's barrel; no room imports it",
      severity: 'error',
      from: { path: '^src/[^/]+/' },
      to: { path: '^src/index\\.ts$' },
    },
    {
      name: 'through-the-barrel',
      comment: "another room is imported through its index.ts (the one exception: src/torch/native.ts, the addon's binding)",
      severity: 'error',
      from: { path: '^src/([^/]+)/' },
      to: { path: '^src/[^/]+/.', pathNot: ['^src/$1/', '^src/[^/]+/index\\.ts$', ...BARREL_BYPASS] },
    },
    {
      name: 'no-circular',
      comment: 'no file imports itself through others',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^src/serve/web/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
