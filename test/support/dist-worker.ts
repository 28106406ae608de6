// One rank of test/distributed.test.ts: joins the group from torchrun's variables, runs collectives, prints JSON.
import { optionsFromEnv, ProcessGroup } from '../../src/distributed/index.js';
import { tensor } from '../../src/torch/index.js';

const group = ProcessGroup.init(optionsFromEnv());
const summed = tensor([group.rank + 1, 10 * (group.rank + 1)]);
group.allReduce([summed]);
const largest = tensor([group.rank * 7 - 3]);
group.allReduce([largest], 'max');
const broadcast = tensor([
  [group.rank, group.rank],
  [group.rank, group.rank],
]);
group.broadcast([broadcast], 1);
if (group.rank === 0) group.set('greeting', 'from rank 0');
group.barrier();
console.log(
  JSON.stringify({
    rank: group.rank,
    summed: summed.toArray(),
    largest: largest.toArray(),
    broadcast: broadcast.toArray(),
    greeting: group.get('greeting'),
  }),
);
