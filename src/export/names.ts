// The names of an exported model's input (float32 N x 3 x S x S, normalised) and output (logits, N x classes).
export const INPUT_NAME = 'input';
export const OUTPUT_NAME = 'logits';
