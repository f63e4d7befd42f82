// MIRO's bucketize as a DuckDB scalar function written in JavaScript. A generated SQL CASE tree
// costs DuckDB about 50 ns a value; this costs about 15 ns plus one hand-over from a DuckDB
// thread to the JavaScript thread per vector of 2048 rows (about 80 µs). To pay that hand-over
// once for several rewards, one call bins up to `perCall` rewards and packs their bins into one
// double: `bits` bits a reward, well inside the 53 bits a double holds exactly. SQL unpacks it.

import type { DuckDBConnection, DuckDBDoubleVector, DuckDBScalarFunction, DuckDBVector } from '@duckdb/node-api';
import { loaded } from '../store/duck.js';
import { sha256 } from '../util/hash.js';
import { EdgeSearch } from './search.js';

export interface BinColumns {
  /** Select-list items that compute the packed columns (named `<prefix>0`, `<prefix>1`, ...). */
  packed: string[];
  /** Per reward, in order: its INTEGER bin read back from the packed columns; NULL stays NULL. */
  bins: string[];
}

/**
 * Registers the functions that bin `scores` (SQL DOUBLE expressions, one per search) on the
 * connection's database, and returns the SQL that calls them. Function names hash the edges,
 * so registering again, from any connection, names the same function.
 */
export function binColumns(conn: DuckDBConnection, searches: EdgeSearch[], scores: string[], prefix: string): BinColumns {
  const numBins = searches[0]!.numBins;
  const bits = Math.ceil(Math.log2(numBins + 1));
  const nullCode = 2 ** bits - 1; // no bin reaches it: bins run 0 .. B-1 <= 2^bits - 2
  const perCall = Math.floor(53 / bits);
  const out: BinColumns = { packed: [], bins: [] };
  for (let first = 0; first < searches.length; first += perCall) {
    const group = searches.slice(first, first + perCall);
    const name = `miro_bins_${sha256(JSON.stringify([numBins, group.map((s) => s.edges)])).slice(0, 16)}`;
    conn.registerScalarFunction(packedBinsFunction(name, group, bits, nullCode));
    const column = `${prefix}${out.packed.length}`;
    // NULL goes in as NaN (not a score either way): a NULL argument would blank the whole call.
    const args = scores.slice(first, first + perCall).map((s) => `coalesce(${s}, 'NaN'::DOUBLE)`);
    out.packed.push(`${name}(${args.join(', ')})::BIGINT AS ${column}`);
    group.forEach((_s, k) => out.bins.push(`nullif((${column} >> ${bits * k}) & ${nullCode}, ${nullCode})::INTEGER`));
  }
  return out;
}

function packedBinsFunction(name: string, searches: EdgeSearch[], bits: number, nullCode: number): DuckDBScalarFunction {
  const { DuckDBScalarFunction, DOUBLE } = loaded(); // the connection it is registered on has loaded DuckDB
  return DuckDBScalarFunction.create({
    name,
    returnType: DOUBLE,
    parameterTypes: searches.map(() => DOUBLE),
    mainFunction: (info, input, output) => {
      try {
        const rows = input.rowCount; // a getter that calls into DuckDB: read it once
        const result = doubles(output, name);
        const packed = new Float64Array(rows);
        searches.forEach((search, k) => {
          const x = doubles(input.getColumnVector(k), name);
          const weight = 2 ** (bits * k);
          for (let i = 0; i < rows; i++) packed[i] = packed[i]! + (search.bin(x.getItem(i)) ?? nullCode) * weight;
        });
        for (let i = 0; i < rows; i++) result.setItem(i, packed[i]!);
        result.flush();
      } catch (err) {
        info.setError(`${name}: ${(err as Error).message}`); // the query fails with this message
      }
    },
  });
}

function doubles(v: DuckDBVector, name: string): DuckDBDoubleVector {
  if (!(v instanceof loaded().DuckDBDoubleVector)) throw new Error(`${name}: expected a DOUBLE vector, got ${v.type.toString()}`);
  return v;
}
