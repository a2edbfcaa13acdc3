import { describe, expect, it } from 'vitest';
import { tablesWritten } from './write-watch.js';

describe('tablesWritten', () => {
  it('finds the tables a statement writes, in CTEs and in quotes', () => {
    expect(tablesWritten('insert into "subjects" ("id") values ($1)')).toEqual(['subjects']);
    expect(tablesWritten('update subject_purpose_state set consent = $1')).toEqual([
      'subject_purpose_state',
    ]);
    expect(
      tablesWritten(
        'with gone as (delete from "public"."vault_records" where id = $1 returning 1) select count(*) from gone',
      ),
    ).toEqual(['vault_records']);
    expect(tablesWritten('TRUNCATE TABLE subjects')).toEqual(['subjects']);
  });

  it('finds none in a read', () => {
    expect(tablesWritten('select * from "subjects" where "id" = $1')).toEqual([]);
  });
});
