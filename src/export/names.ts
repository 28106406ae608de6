// The names of an exported model's input (float32 N x 3 x S x S, normalised; or, exported with `--input uint8`,
// uint8 N x D x D x 3 decoded pixels) and output (logits, N x classes).
export const INPUT_NAME = 'input';
export const PIXELS_NAME = 'pixels';
export const OUTPUT_NAME = 'logits';
