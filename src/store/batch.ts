// Rows as the store reads and writes them: typed columns in batches, never arrays of objects.

export type ColumnType = 'VARCHAR' | 'DOUBLE' | 'FLOAT' | 'INTEGER' | 'BIGINT' | 'BOOLEAN' | 'BLOB' | 'FLOAT[]' | 'DOUBLE[]';

export interface Column {
  name: string;
  type: ColumnType;
}

export type Value = string | number | boolean | bigint | Uint8Array | number[] | null;
export type ColumnValues = readonly Value[] | Float64Array | Float32Array | Int32Array;

/** Rows travel between a stage and the store as columns, never as arrays of objects. */
export interface Batch {
  rows: number;
  columns: Record<string, ColumnValues>;
}
