// @ts-check
// Writing the CSV a user downloads (classified texts with their labels and probabilities).

/**
 * One field, quoted when it holds a quote, a comma or a line break (RFC 4180).
 * @param {unknown} value
 */
export function csvField(value) {
  const s = String(value);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * A text as a spreadsheet shows it, not as a formula it runs: Excel, LibreOffice and Sheets
 * evaluate a cell that starts with = + - or an at sign, a tab or a carriage return, and a
 * review file from anywhere could hold `=HYPERLINK(...)`. Such a text gets a leading apostrophe (OWASP's advice
 * on CSV injection); a spreadsheet opening the file shows the apostrophe, and a program reading
 * it gets it too: the price of a cell that cannot run. Every other text is written as it is.
 * @param {string} text
 */
export function spreadsheetText(text) {
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}

/**
 * One CSV line: `texts` made safe for spreadsheets, then `numbers` as they are (they cannot
 * start a formula), every field quoted as needed.
 * @param {string[]} texts
 * @param {string[]} [numbers]
 */
export function csvLine(texts, numbers = []) {
  return [...texts.map(spreadsheetText), ...numbers].map(csvField).join(',');
}
