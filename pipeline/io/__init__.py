"""Input readers (JSONL, Parquet, Arrow, `datasets` folders) and the `datasets`-compatible output writer.

Readers turn every input file into batches of `(documents, rejected)`: documents carry `id` and `text` first,
then the input's other fields untouched; every non-blank input row is either a document or a ledger row with
stage `read` and a reason, so `docs_in == docs_out + docs_rejected` holds from the first stage on. Errors a
user must fix before anything can be read (nothing matches a path, an unknown format, a GBK, Big5 or UTF-16
file without `input.encoding`, a `_` column, a missing text column) raise `InputError` with one line naming the file.

Ids are kept from the input (`input.id_field`, cast to string) or derived from the file's `source` (its path
relative to the configured folder or glob base, so ids survive moving the corpus) and the 0-based row.

A path with a scheme (`s3://bucket/crawl/*.jsonl.zst`, `gs://`, `hdfs://`, `file://`, `memory://` ...) is
listed and read through fsspec: `InputFile.path` is then the file's full URL, which a worker turns back into a
filesystem with `fsspec.core.url_to_fs` (credentials come from the worker's environment, as fsspec's do).
Sources, derived ids and the fingerprint are the same as for a local copy with the same layout, except that a
file whose store reports a content checksum (S3 `ETag`, GCS `md5Hash` ...) is fingerprinted by it
(`etag:...`, `md5:...`) instead of by reading it whole. Plain paths keep the local fast path (memory-mapped
Arrow and Parquet, buffered local reads).

Ids must be unique over all inputs (`ids`: a repeated id fails the run naming both files, or
`input.duplicate_ids: rekey` prefixes every id with its file's source).

Modules by job: `listing` (patterns -> `InputFile`s), `remote` (fsspec paths and URLs), `decoding`
(compression and encoding), `jsonl` and `columnar` (the readers), `reading` (dispatch by format), `provenance`
(synthetic sources), `writer` (the `datasets` folder).
"""
