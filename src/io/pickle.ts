// A restricted unpickler for the binary opcodes of pickle protocols 2 to 5. It never executes anything: GLOBAL and
// STACK_GLOBAL resolve only through the caller's allow-list (to values the caller made), REDUCE and NEWOBJ call only
// those values, and every other global, unknown opcode, stack or memo misuse, or impossible length is an error that
// names the input, the byte offset and the problem.

/** A Python tuple (immutable; distinct from a list, which is a plain array). */
export class PickleTuple {
  constructor(readonly items: readonly PickleValue[]) {}
}

export type PickleKey = string | number | bigint | boolean | null;

/** A Python dict (or OrderedDict): insertion-ordered, keyed by strings, numbers, booleans or None. */
export class PickleDict {
  readonly items = new Map<PickleKey, PickleValue>();
}

/** A value only the caller's globals and persistent loader make; the unpickler just moves it around. */
export abstract class PickleObject {
  // Makes the type nominal: a plain object is not a PickleObject.
  declare private readonly pickleObjectBrand: never;
}

/** An allowed global that REDUCE and NEWOBJ may call (with the arguments' tuple items). */
export class PickleCallable extends PickleObject {
  constructor(
    readonly qualifiedName: string,
    private readonly fn: (args: readonly PickleValue[]) => PickleValue,
  ) {
    super();
  }

  call(args: readonly PickleValue[]): PickleValue {
    return this.fn(args);
  }
}

/** None, bool, int (a number when it is a safe integer, else a bigint), float, str, bytes, list, tuple, dict, or the caller's. */
export type PickleValue =
  null | boolean | number | bigint | string | Uint8Array | PickleValue[] | PickleTuple | PickleDict | PickleObject;

export interface UnpickleOptions {
  /** Names the input in errors, e.g. 'model.pt: archive/data.pkl'. */
  source: string;
  /** 'module.name' -> what GLOBAL pushes for it. Every other global is refused. */
  globals: ReadonlyMap<string, PickleValue>;
  /** BINPERSID: the value for a persistent id. Without it, persistent ids are refused. */
  persistentLoad?: (pid: PickleValue) => PickleValue;
  /** BUILD: applies a state to the object on the stack, in place. Without it, BUILD is refused. */
  build?: (target: PickleValue, state: PickleValue) => void;
  /** Most MARKs open at once (nesting while building tuples, lists and dicts). */
  maxMarks?: number;
  /** Most items on the stack at once (pickle batches dict and list items by 1000, so real files stay far below). */
  maxStack?: number;
}

const DEFAULT_MAX_MARKS = 1000;
const DEFAULT_MAX_STACK = 1_000_000;
const MAX_LONG_BYTES = 4096; // ints of up to 32768 bits; a state dict has none that large
const MAX_GLOBAL_LINE = 1024;
const HIGHEST_PROTOCOL = 5;

const OPCODE_NAMES: Record<number, string> = {
  0x49: 'INT',
  0x4a: 'BININT',
  0x4b: 'BININT1',
  0x4d: 'BININT2',
  0x4c: 'LONG',
  0x8a: 'LONG1',
  0x8b: 'LONG4',
  0x53: 'STRING',
  0x54: 'BINSTRING',
  0x55: 'SHORT_BINSTRING',
  0x42: 'BINBYTES',
  0x43: 'SHORT_BINBYTES',
  0x8e: 'BINBYTES8',
  0x96: 'BYTEARRAY8',
  0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
  0x4e: 'NONE',
  0x88: 'NEWTRUE',
  0x89: 'NEWFALSE',
  0x56: 'UNICODE',
  0x8c: 'SHORT_BINUNICODE',
  0x58: 'BINUNICODE',
  0x8d: 'BINUNICODE8',
  0x46: 'FLOAT',
  0x47: 'BINFLOAT',
  0x5d: 'EMPTY_LIST',
  0x61: 'APPEND',
  0x65: 'APPENDS',
  0x6c: 'LIST',
  0x29: 'EMPTY_TUPLE',
  0x74: 'TUPLE',
  0x85: 'TUPLE1',
  0x86: 'TUPLE2',
  0x87: 'TUPLE3',
  0x7d: 'EMPTY_DICT',
  0x64: 'DICT',
  0x73: 'SETITEM',
  0x75: 'SETITEMS',
  0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS',
  0x91: 'FROZENSET',
  0x30: 'POP',
  0x32: 'DUP',
  0x28: 'MARK',
  0x31: 'POP_MARK',
  0x67: 'GET',
  0x68: 'BINGET',
  0x6a: 'LONG_BINGET',
  0x70: 'PUT',
  0x71: 'BINPUT',
  0x72: 'LONG_BINPUT',
  0x94: 'MEMOIZE',
  0x82: 'EXT1',
  0x83: 'EXT2',
  0x84: 'EXT4',
  0x63: 'GLOBAL',
  0x93: 'STACK_GLOBAL',
  0x52: 'REDUCE',
  0x62: 'BUILD',
  0x69: 'INST',
  0x6f: 'OBJ',
  0x81: 'NEWOBJ',
  0x92: 'NEWOBJ_EX',
  0x80: 'PROTO',
  0x2e: 'STOP',
  0x95: 'FRAME',
  0x50: 'PERSID',
  0x51: 'BINPERSID',
};

export function opcodeName(code: number): string {
  return OPCODE_NAMES[code] ?? `0x${code.toString(16).padStart(2, '0')}`;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Describes a value briefly for error messages. */
export function describePickleValue(value: PickleValue): string {
  if (value === null) return 'None';
  if (typeof value === 'boolean') return 'a bool';
  if (typeof value === 'number' || typeof value === 'bigint') return 'a number';
  if (typeof value === 'string') return 'a str';
  if (value instanceof Uint8Array) return 'bytes';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof PickleTuple) return 'a tuple';
  if (value instanceof PickleDict) return 'a dict';
  if (value instanceof PickleCallable) return `the global '${value.qualifiedName}'`;
  return `a ${value.constructor.name}`;
}

function isKey(value: PickleValue): value is PickleKey {
  return (
    value === null ||
    typeof value === 'string' ||
    typeof value === 'number' ||
    typeof value === 'bigint' ||
    typeof value === 'boolean'
  );
}

/** Unpickles `bytes` up to STOP and returns the result. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): PickleValue {
  const { source, globals, persistentLoad, build } = options;
  const maxMarks = options.maxMarks ?? DEFAULT_MAX_MARKS;
  const maxStack = options.maxStack ?? DEFAULT_MAX_STACK;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.byteLength;
  const stack: PickleValue[] = [];
  const marks: number[] = []; // stack lengths at each open MARK; nothing may pop below the innermost
  const memo = new Map<number, PickleValue>();
  let pos = 0;
  let opStart = 0;
  let op = 0;

  const fail = (why: string): never => {
    throw new Error(`${source}: ${opcodeName(op)} at byte ${opStart}: ${why}`);
  };
  const need = (n: number): number => {
    if (n > end - pos) fail(`truncated: needs ${n} more bytes, ${end - pos} remain`);
    const at = pos;
    pos += n;
    return at;
  };
  const push = (value: PickleValue): void => {
    if (stack.length >= maxStack) fail(`the stack would hold more than ${maxStack} items`);
    stack.push(value);
  };
  const floor = (): number => (marks.length === 0 ? 0 : marks[marks.length - 1]);
  const pop = (): PickleValue => {
    if (stack.length <= floor()) fail('stack underflow');
    return stack.pop() as PickleValue;
  };
  const top = (): PickleValue => {
    if (stack.length <= floor()) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): PickleValue[] => {
    const mark = marks.pop();
    if (mark === undefined) fail('no MARK is open');
    return stack.splice(mark as number);
  };
  const length64 = (): number => {
    const n = view.getBigUint64(need(8), true);
    if (n > BigInt(end - pos)) fail(`length ${n} is longer than the ${end - pos} bytes that remain`);
    return Number(n);
  };
  const text = (n: number): string => {
    const at = need(n);
    try {
      return utf8.decode(bytes.subarray(at, at + n));
    } catch {
      return fail('the string is not valid UTF-8');
    }
  };
  const raw = (n: number): Uint8Array => {
    const at = need(n);
    return bytes.slice(at, at + n);
  };
  const line = (): string => {
    const limit = Math.min(end, pos + MAX_GLOBAL_LINE);
    let nl = pos;
    while (nl < limit && bytes[nl] !== 0x0a) nl++;
    if (nl >= limit)
      fail(nl >= end ? 'truncated: the name has no end of line' : `a name longer than ${MAX_GLOBAL_LINE} bytes`);
    const s = text(nl - pos);
    pos++; // the newline
    return s;
  };
  const resolve = (module: string, name: string): PickleValue => {
    const qualified = `${module}.${name}`;
    if (!globals.has(qualified)) fail(`refuses the global '${qualified}' (not on the allow-list of ${globals.size})`);
    return globals.get(qualified) as PickleValue;
  };
  const call = (callee: PickleValue, args: PickleValue): PickleValue => {
    if (!(callee instanceof PickleCallable)) fail(`cannot call ${describePickleValue(callee)}`);
    if (!(args instanceof PickleTuple)) fail(`the arguments are ${describePickleValue(args)}, not a tuple`);
    const fn = callee as PickleCallable;
    try {
      return fn.call((args as PickleTuple).items);
    } catch (error) {
      return fail(`${fn.qualifiedName}: ${(error as Error).message}`);
    }
  };
  const setItems = (target: PickleValue, items: PickleValue[]): void => {
    if (!(target instanceof PickleDict)) fail(`the target is ${describePickleValue(target)}, not a dict`);
    if (items.length % 2 !== 0) fail('an odd number of keys and values');
    for (let i = 0; i < items.length; i += 2) {
      const key = items[i];
      if (!isKey(key)) fail(`unsupported dict key: ${describePickleValue(key)}`);
      (target as PickleDict).items.set(key as PickleKey, items[i + 1]);
    }
  };
  const append = (target: PickleValue, items: PickleValue[]): void => {
    if (!Array.isArray(target)) fail(`the target is ${describePickleValue(target)}, not a list`);
    for (const item of items) (target as PickleValue[]).push(item);
  };
  const memoGet = (index: number): PickleValue => {
    if (!memo.has(index)) fail(`memo entry ${index} was never stored`);
    return memo.get(index) as PickleValue;
  };
  const signedLong = (at: number, n: number): number | bigint => {
    if (n === 0) return 0;
    let value = 0n;
    for (let i = n - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[at + i]);
    if (bytes[at + n - 1] & 0x80) value -= 1n << BigInt(8 * n);
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  };

  while (pos < end) {
    opStart = pos;
    op = bytes[pos++];
    switch (op) {
      case 0x80: {
        // PROTO
        const protocol = bytes[need(1)];
        if (protocol > HIGHEST_PROTOCOL) fail(`protocol ${protocol} is newer than ${HIGHEST_PROTOCOL}`);
        break;
      }
      case 0x95: // FRAME: a framing hint; the data is already all in memory
        length64();
        break;
      case 0x2e: // STOP
        return pop();
      case 0x28: // MARK
        if (marks.length >= maxMarks) fail(`more than ${maxMarks} nested MARKs`);
        marks.push(stack.length);
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x4a: // BININT
        push(view.getInt32(need(4), true));
        break;
      case 0x4b: // BININT1
        push(bytes[need(1)]);
        break;
      case 0x4d: // BININT2
        push(view.getUint16(need(2), true));
        break;
      case 0x8a: {
        // LONG1
        const n = bytes[need(1)];
        push(signedLong(need(n), n));
        break;
      }
      case 0x8b: {
        // LONG4
        const n = view.getInt32(need(4), true);
        if (n < 0 || n > MAX_LONG_BYTES) fail(`an int of ${n} bytes`);
        push(signedLong(need(n), n));
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        push(view.getFloat64(need(8), false));
        break;
      case 0x58: // BINUNICODE
        push(text(view.getUint32(need(4), true)));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(text(bytes[need(1)]));
        break;
      case 0x8d: // BINUNICODE8
        push(text(length64()));
        break;
      case 0x54: {
        // BINSTRING (a Python 2 str)
        const n = view.getInt32(need(4), true);
        if (n < 0) fail(`negative length ${n}`);
        push(text(n));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        push(text(bytes[need(1)]));
        break;
      case 0x42: // BINBYTES
        push(raw(view.getUint32(need(4), true)));
        break;
      case 0x43: // SHORT_BINBYTES
        push(raw(bytes[need(1)]));
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        push(raw(length64()));
        break;
      case 0x5d: // EMPTY_LIST
        push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        push(new PickleTuple([]));
        break;
      case 0x7d: // EMPTY_DICT
        push(new PickleDict());
        break;
      case 0x85: // TUPLE1
        push(new PickleTuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        push(new PickleTuple([a, b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        push(new PickleTuple([a, b, c]));
        break;
      }
      case 0x74: // TUPLE
        push(new PickleTuple(popMark()));
        break;
      case 0x6c: // LIST
        push(popMark());
        break;
      case 0x64: {
        // DICT
        const dict = new PickleDict();
        setItems(dict, popMark());
        push(dict);
        break;
      }
      case 0x61: {
        // APPEND
        const item = pop();
        append(top(), [item]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x73: {
        // SETITEM
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x71: // BINPUT
        memo.set(bytes[need(1)], top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(view.getUint32(need(4), true), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
        push(memoGet(bytes[need(1)]));
        break;
      case 0x6a: // LONG_BINGET
        push(memoGet(view.getUint32(need(4), true)));
        break;
      case 0x63: {
        // GLOBAL
        const module = line();
        const name = line();
        push(resolve(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('the module and name are not strings');
        push(resolve(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const callee = pop();
        push(call(callee, args));
        break;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args); the allowed classes build themselves from the same arguments
        const args = pop();
        const cls = pop();
        push(call(cls, args));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX: as NEWOBJ, when there are no keyword arguments
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!(kwargs instanceof PickleDict) || kwargs.items.size > 0) fail('keyword arguments are not supported');
        push(call(cls, args));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const target = top();
        if (build === undefined) fail(`cannot set the state of ${describePickleValue(target)}`);
        try {
          build!(target, state);
        } catch (error) {
          fail((error as Error).message);
        }
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (persistentLoad === undefined) fail('persistent ids are not allowed here');
        try {
          push(persistentLoad!(pid));
        } catch (error) {
          fail((error as Error).message);
        }
        break;
      }
      default:
        fail(OPCODE_NAMES[op] === undefined ? 'unknown opcode' : 'opcode not supported by this restricted unpickler');
    }
  }
  throw new Error(`${source}: truncated: the pickle ends at byte ${end} without STOP`);
}
