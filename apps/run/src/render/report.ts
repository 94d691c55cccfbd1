import { isTableFormat, renderTable } from '@skiff/oci/template/go-template';
import { UsageError } from '../base-command.js';
import { listJson } from './json.js';

/**
 * `--format` for list commands as podman handles it: `json` (or `{{json .}}`) prints the JSON
 * list; `table …` a table with headers; any other Go template one line per row; no format the
 * default table. `--noheading` drops the header row.
 */

export interface ReportOptions {
  format: string | undefined;
  defaultFormat: string;
  headers: Record<string, string>;
  noHeading?: boolean;
  /** The JSON printed for `--format json`. */
  json: () => unknown;
}

export function renderReport(rows: unknown[], options: ReportOptions): string {
  const format = options.format;
  if (format === 'json' || format === '{{json .}}') return listJson(options.json());
  if (format !== undefined && format.trim() === '') throw new UsageError('--format must not be empty');
  const template = format ?? options.defaultFormat;
  const out = renderTable(template, rows, { headers: options.headers });
  if (options.noHeading && isTableFormat(template)) {
    const nl = out.indexOf('\n');
    return nl < 0 ? '' : out.slice(nl + 1);
  }
  return out;
}
