-- New rows are compressed with the server's default again; rows already written stay readable.
ALTER TABLE outbox ALTER COLUMN events SET COMPRESSION DEFAULT;
