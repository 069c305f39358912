//! CSV files too large to hold whole: read a chunk at a time, each row taken through the first
//! preprocessing steps as it is read, and a uniform random sample of the rows kept (reservoir
//! sampling), so that memory is bounded by the sample and the longest record, not by the file.
//!
//! [`CsvStream`] reads exactly what [`data::read_table`] reads (the same delimiter detection,
//! columns, quoting, BOM, CRLF, blank lines and errors) and counts every dropped row as
//! [`data::preprocess`] counts it. When the sample holds every kept row, the dataset is the one
//! [`data::load`] makes of the whole file; otherwise its rows are a uniform sample of the kept
//! rows, drawn with the settings' seed (a given test part is sampled apart from the rest, so it
//! is kept whole when it fits).

use crate::data::{
    self, ColumnIndexes, Counts, DataError, Dataset, Delimiter, Part, QuoteCheck, Row, RowStep,
    SeededRng, Settings, Table, detect_delimiter, locate_columns, row_step,
};

/// A record longer than this is refused: it is almost always a quote that is never closed,
/// which would otherwise read the rest of the file into one field.
pub const MAX_RECORD_BYTES: usize = 16 << 20;

/// Files larger than this are read as a stream. Read whole, a file takes about three times its
/// size in wasm memory (its bytes, its cells, its texts), and a wasm32 instance has at most
/// 4 GiB, which the model shares.
pub const STREAM_ABOVE_BYTES: u64 = 64 << 20;

/// How much of the start of a streamed file its preview reads.
pub const PREVIEW_BYTES: u64 = 4 << 20;

/// How much of a streamed file is read at a time.
pub const CHUNK_BYTES: u64 = 4 << 20;

/// Bytes looked at to detect the delimiter (the first lines of the file).
const DETECT_BYTES: usize = 64 << 10;

/// A CSV file read a chunk at a time ([`CsvStream::push`]) into a sample of its rows
/// ([`CsvStream::finish`]).
pub struct CsvStream {
    settings: Settings,
    /// Rows the sample holds, per part (the test part apart when the file gives the split).
    capacity: usize,
    /// The file's first bytes, until there are enough to detect the delimiter.
    start: Vec<u8>,
    /// Set once the delimiter is known.
    reader: Option<Reader>,
    /// Bytes given so far.
    bytes: u64,
}

/// The parser's state once the delimiter is known.
struct Reader {
    core: csv_core::Reader,
    quotes: QuoteCheck,
    /// The current record's fields and their ends, as `csv_core` writes them.
    out: Vec<u8>,
    ends: Vec<usize>,
    out_len: usize,
    ends_len: usize,
    /// `\n` bytes read so far, and the 1-based line where the current record starts.
    newlines: u64,
    record_line: u64,
    in_record: bool,
    header: Option<(Vec<String>, ColumnIndexes)>,
    counts: Counts,
    /// Rows kept by steps 2 to 4, outside and inside a given test part.
    seen: [u64; 2],
    sample: [Vec<Row>; 2],
    rng: SeededRng,
}

impl CsvStream {
    /// A stream preprocessed with `settings`, which must give a sample size: the sample is what
    /// stays in memory.
    pub fn new(settings: &Settings) -> Result<Self, DataError> {
        let capacity = settings.sample_size.ok_or_else(|| {
            DataError::Setting(
                "this file is too large to read whole, so it is sampled while it is read: choose a sample size (100,000 rows is the tutorial's)"
                    .into(),
            )
        })?;
        if capacity == 0 {
            return Err(DataError::Setting(
                "the sample size is 0; choose at least 2".into(),
            ));
        }
        Ok(CsvStream {
            settings: settings.clone(),
            capacity,
            start: Vec::new(),
            reader: None,
            bytes: 0,
        })
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// Reads the next chunk of the file (any size; records may span chunks).
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), DataError> {
        self.bytes += chunk.len() as u64;
        match &mut self.reader {
            Some(reader) => reader.read(chunk, &self.settings, self.capacity),
            None => {
                self.start.extend_from_slice(chunk);
                if self.start.len() >= DETECT_BYTES {
                    self.begin()?;
                }
                Ok(())
            }
        }
    }

    /// Checks the file's start (UTF-16, BOM), detects the delimiter and reads what is buffered.
    fn begin(&mut self) -> Result<(), DataError> {
        let start = std::mem::take(&mut self.start);
        data::refuse_utf16(&start)?;
        let body = data::without_bom(&start);
        let delimiter = match self.settings.delimiter {
            Delimiter::Auto => detect_delimiter(body),
            given => given,
        };
        let mut reader = Reader {
            core: csv_core::ReaderBuilder::new()
                .delimiter(delimiter.byte().unwrap_or(b','))
                .build(),
            quotes: QuoteCheck::new(delimiter),
            out: vec![0; 4096],
            ends: vec![0; 16],
            out_len: 0,
            ends_len: 0,
            newlines: 0,
            record_line: 1,
            in_record: false,
            header: None,
            counts: Counts::default(),
            seen: [0; 2],
            sample: [Vec::new(), Vec::new()],
            rng: SeededRng::new(self.settings.seed),
        };
        reader.read(body, &self.settings, self.capacity)?;
        self.reader = Some(reader);
        Ok(())
    }

    /// The end of the file: the sample, preprocessed and split as [`data::preprocess`] does,
    /// with the counts of the whole file.
    pub fn finish(mut self) -> Result<Dataset, DataError> {
        if self.reader.is_none() {
            if self.start.iter().all(u8::is_ascii_whitespace) {
                return Err(DataError::Empty);
            }
            self.begin()?;
        }
        let Some(mut reader) = self.reader.take() else {
            return Err(DataError::Empty);
        };
        // A quote never closed makes the last record run to the end of the file: that, not
        // the record's field count, is the error to report, as reading the whole file does.
        let last = reader.read(&[], &self.settings, self.capacity);
        reader.quotes.finish()?;
        last?;
        let Some((header, columns)) = reader.header else {
            return Err(DataError::Empty);
        };
        let mut c = reader.counts;
        c.after_empty = c.rows_read - c.dropped_empty;
        c.after_labels = c.after_empty - c.dropped_unusable_label - c.dropped_neutral;
        c.after_words = c.after_labels - c.dropped_long;
        if c.after_words == 0 {
            return Err(DataError::NoUsableRows(data::no_rows_detail(
                &c,
                &self.settings,
            )));
        }
        let [mut rows, mut test] = reader.sample;
        rows.append(&mut test);
        rows.sort_by_key(|r| r.line);
        let table = Table {
            layout: columns.layout,
            text_column: header[columns.text].clone(),
            label_column: columns.label_name(&header),
            split_column: columns.split.map(|i| header[i].clone()),
            rows,
            blank_lines: c.blank_lines,
        };
        let mut dataset = data::preprocess(&table, &self.settings)?;
        let d = &mut dataset.counts;
        d.rows_read = c.rows_read;
        d.dropped_empty = c.dropped_empty;
        d.after_empty = c.after_empty;
        d.dropped_unusable_label = c.dropped_unusable_label;
        d.unusable_label_examples = c.unusable_label_examples;
        d.dropped_neutral = c.dropped_neutral;
        d.after_labels = c.after_labels;
        d.dropped_long = c.dropped_long;
        d.after_words = c.after_words;
        d.dropped_by_sampling = c.after_words - d.after_sampling;
        Ok(dataset)
    }
}

impl Reader {
    /// Parses `input`; an empty `input` is the end of the file.
    fn read(
        &mut self,
        mut input: &[u8],
        settings: &Settings,
        capacity: usize,
    ) -> Result<(), DataError> {
        let end = input.is_empty();
        self.quotes.feed(input);
        loop {
            if !self.in_record {
                // Line ends between records (blank lines included) are skipped here, so that
                // the next byte starts a record and its line is known.
                let skip = input
                    .iter()
                    .take_while(|&&b| b == b'\r' || b == b'\n')
                    .count();
                self.newlines += input[..skip].iter().filter(|&&b| b == b'\n').count() as u64;
                input = &input[skip..];
                if input.is_empty() && !end {
                    return Ok(());
                }
                self.record_line = self.newlines + 1;
                self.in_record = true;
            }
            let (result, read, written, ended) = self.core.read_record(
                input,
                &mut self.out[self.out_len..],
                &mut self.ends[self.ends_len..],
            );
            self.newlines += input[..read].iter().filter(|&&b| b == b'\n').count() as u64;
            input = &input[read..];
            self.out_len += written;
            self.ends_len += ended;
            match result {
                csv_core::ReadRecordResult::InputEmpty => return Ok(()),
                csv_core::ReadRecordResult::OutputFull => {
                    if self.out.len() >= MAX_RECORD_BYTES {
                        return Err(DataError::Csv {
                            line: self.record_line,
                            message: format!(
                                "a record of more than {} MB starts here, most likely at a quote that is never closed: close it (a quote inside a quoted field is written `\"\"`)",
                                MAX_RECORD_BYTES >> 20
                            ),
                        });
                    }
                    let grown = self.out.len() * 2;
                    self.out.resize(grown, 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    let grown = self.ends.len() * 2;
                    self.ends.resize(grown, 0);
                }
                csv_core::ReadRecordResult::Record => {
                    self.record(settings, capacity)?;
                    self.out_len = 0;
                    self.ends_len = 0;
                    self.in_record = false;
                }
                csv_core::ReadRecordResult::End => return Ok(()),
            }
        }
    }

    /// The fields of the record just read.
    fn fields(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.ends_len).filter_map(|i| self.field(i))
    }

    /// Field `i` of the record just read.
    fn field(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends[..self.ends_len].get(i)?;
        let from = if i == 0 { 0 } else { self.ends[i - 1] };
        self.out.get(from..end)
    }

    /// One record: the header, or a row through steps 2 to 4 into the sample.
    fn record(&mut self, settings: &Settings, capacity: usize) -> Result<(), DataError> {
        let line = self.record_line;
        let blank =
            self.ends_len == 1 && self.fields().all(|f| f.iter().all(u8::is_ascii_whitespace));
        let Some((header, columns)) = &self.header else {
            if blank {
                self.counts.blank_lines += 1;
                return Ok(());
            }
            let header = self
                .fields()
                .map(|cell| std::str::from_utf8(cell).map(|s| s.trim().to_string()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| DataError::NotUtf8 {
                    line,
                    column: "the header".into(),
                })?;
            let columns = locate_columns(&header, settings)?;
            self.header = Some((header, columns));
            return Ok(());
        };
        if self.ends_len != header.len() {
            if blank {
                self.counts.blank_lines += 1;
                return Ok(());
            }
            return Err(DataError::FieldCount {
                line,
                found: self.ends_len,
                expected: header.len(),
            });
        }
        let cell = |index: usize| {
            self.field(index)
                .and_then(|f| std::str::from_utf8(f).ok())
                .map(str::to_string)
                .ok_or_else(|| DataError::NotUtf8 {
                    line,
                    column: format!("column `{}`", header[index]),
                })
        };
        let part = match columns.split {
            None => None,
            Some(index) => Some(Part::of_cell(&cell(index)?, line, &header[index])?),
        };
        let row = Row {
            line,
            text: cell(columns.text)?,
            label: columns.label_cell(header, line, cell)?,
            part,
        };
        self.counts.rows_read += 1;
        match row_step(&row.text, &row.label, settings) {
            RowStep::Empty => self.counts.dropped_empty += 1,
            RowStep::UnusableLabel => self.counts.note_unusable(&row.label),
            RowStep::Neutral => self.counts.dropped_neutral += 1,
            RowStep::Long => self.counts.dropped_long += 1,
            RowStep::Kept => {
                // Algorithm R: the k-th kept row replaces a random one with probability
                // capacity / k, so every kept row is in the sample with the same probability.
                let which = usize::from(row.part == Some(Part::Test));
                let seen = self.seen[which];
                self.seen[which] += 1;
                let sample = &mut self.sample[which];
                if sample.len() < capacity {
                    sample.push(row);
                } else {
                    let slot = self
                        .rng
                        .below(usize::try_from(seen + 1).unwrap_or(usize::MAX));
                    if let Some(kept) = sample.get_mut(slot) {
                        *kept = row;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The longest start of `bytes` that ends with a whole record, so that the first megabytes of
/// a large file can be previewed without a record cut in two.
pub fn whole_records(bytes: &[u8], delimiter: Delimiter) -> &[u8] {
    let delimiter = delimiter.resolve(data::without_bom(bytes));
    let mut core = csv_core::ReaderBuilder::new()
        .delimiter(delimiter.byte().unwrap_or(b','))
        .build();
    let (mut out, mut ends) = (vec![0u8; 1 << 16], vec![0usize; 256]);
    let (mut at, mut whole) = (0, 0);
    loop {
        let (result, read, _, _) = core.read_record(&bytes[at..], &mut out, &mut ends);
        at += read;
        match result {
            csv_core::ReadRecordResult::Record => whole = at,
            csv_core::ReadRecordResult::InputEmpty | csv_core::ReadRecordResult::End => break,
            // Only where records end matters, not their fields.
            csv_core::ReadRecordResult::OutputFull | csv_core::ReadRecordResult::OutputEndsFull => {
            }
        }
    }
    &bytes[..whole]
}
