// The tracing rows `weft proxy` and `weft gateway` share (docs/tracing.md), and what they become:
// an OTLP/HTTP endpoint (or none: tracing off), the root sampling ratio and the export delay.
import { SettingProblem, durationMs, optional, setting, str, type SettingType } from '../../lib/config.js';

// An http(s) URL, checked at start so that a typo fails the start naming the variable.
function otlpUrl(): SettingType<string> {
  return {
    label: 'http(s) URL',
    parse(raw, name) {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        return new SettingProblem(`${name}=${JSON.stringify(raw)} is not a URL`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') return new SettingProblem(`${name}=${JSON.stringify(raw)} is not an http or https URL`);
      return raw;
    },
    format: (v) => v,
  };
}

// A share between 0 and 1 ("0.25"); lib/config.ts has integers only.
function ratio(): SettingType<number> {
  return {
    label: 'number 0-1',
    parse(raw, name) {
      if (!/^(?:0|1|0?\.\d+|1\.0*)$/.test(raw)) return new SettingProblem(`${name}=${JSON.stringify(raw)} is not a number between 0 and 1`);
      return Number(raw);
    },
    format: (v) => String(v),
  };
}

/** Rows for docs/sidecar-config.md; the proxy's and the gateway's tables take them whole. */
export const TRACE_SETTINGS = {
  traceEndpoint: setting({
    name: 'WEFT_TRACE_OTLP_ENDPOINT',
    type: optional(otlpUrl()),
    default: undefined,
    defaultDoc: '(none: tracing off)',
    doc: 'OTLP/HTTP (JSON) URL spans are sent to, the whole path included (`http://collector:4318/v1/traces`); set, each request gets a span ([tracing.md](tracing.md)); it wins over the two `OTEL_*` variables below',
  }),
  otelTracesEndpoint: setting({
    name: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
    type: optional(otlpUrl()),
    default: undefined,
    doc: "OpenTelemetry's standard variable, used as the whole URL when `WEFT_TRACE_OTLP_ENDPOINT` is unset",
  }),
  otelEndpoint: setting({
    name: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    type: optional(otlpUrl()),
    default: undefined,
    doc: "OpenTelemetry's standard base URL: `/v1/traces` is appended; used when neither variable above is set",
  }),
  traceSampleRatio: setting({
    name: 'WEFT_TRACE_SAMPLE_RATIO',
    type: ratio(),
    default: 1,
    doc: "share of requests arriving without a trace parent that start a sampled trace; a request with a parent follows the parent's sampled flag",
  }),
  traceExportDelayMs: setting({
    name: 'WEFT_TRACE_EXPORT_DELAY_MS',
    type: durationMs({ min: 0, max: 60_000 }),
    default: 5_000,
    doc: 'finished spans are batched and sent this often (a full batch of 512 goes at once)',
  }),
  traceServiceName: setting({
    name: 'WEFT_TRACE_SERVICE_NAME',
    type: optional(str('name')),
    default: undefined,
    defaultDoc: '(the service account)',
    doc: 'the `service.name` of the spans: the workload',
  }),
} as const;

/** Tracing as configured; undefined endpoint means off. */
export interface TraceSettings {
  /** The full OTLP/HTTP URL spans go to; undefined: tracing is off and nothing of OpenTelemetry is loaded. */
  readonly endpoint: string | undefined;
  /** Share of parentless requests sampled (0-1). */
  readonly sampleRatio: number;
  /** How often finished spans are sent (ms). */
  readonly exportDelayMs: number;
  /** The spans' service.name; undefined: the service account. */
  readonly serviceName: string | undefined;
}

/** What the table read gives. */
export interface TraceSettingValues {
  readonly traceEndpoint: string | undefined;
  readonly otelTracesEndpoint: string | undefined;
  readonly otelEndpoint: string | undefined;
  readonly traceSampleRatio: number;
  readonly traceExportDelayMs: number;
  readonly traceServiceName: string | undefined;
}

/** The parsed settings: weft's own endpoint, else OpenTelemetry's traces endpoint, else its base plus /v1/traces. */
export function traceSettingsOf(v: TraceSettingValues): TraceSettings {
  const base = v.otelEndpoint === undefined ? undefined : `${v.otelEndpoint.replace(/\/+$/, '')}/v1/traces`;
  return {
    endpoint: v.traceEndpoint ?? v.otelTracesEndpoint ?? base,
    sampleRatio: v.traceSampleRatio,
    exportDelayMs: v.traceExportDelayMs,
    serviceName: v.traceServiceName,
  };
}
