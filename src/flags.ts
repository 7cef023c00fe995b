/**
 * The `%%gemini` flags that take no value (argparse `nargs == 0`), so that the word after one of them is
 * highlighted as the cell's NAME, not as the flag's value. tests/unit/test_labextension.py keeps this list
 * equal to gemini_magics/options.py's parser.
 */
export const BOOLEAN_FLAGS: ReadonlySet<string> = new Set([
  '--background',
  '--batch',
  '--fresh',
  '--json',
  '--new',
  '--no-store',
  '--no-stream',
  '--no-thoughts',
  '--plan',
  '--research',
  '--store',
  '--stream',
  '--thoughts',
  '--visualize',
  '--wait',
  '--yes',
  '-b',
  '-n'
]);
