import t from 'tap';
import { parseProxyConfig } from '../../../../proxy/config.js';
import { parseGatewayConfig } from '../../../../gateway/config.js';
import { isWeftError } from '../../../../lib/errors.js';

const LOCAL = { WEFT_MODE: 'local', WEFT_CA_DIR: '/tmp/ca', WEFT_ENDPOINTS_FILE: '/tmp/endpoints.json' };

t.test('tracing is off unless an endpoint is set', async (t) => {
  const c = parseProxyConfig(LOCAL);
  t.same(c.trace, { endpoint: undefined, sampleRatio: 1, exportDelayMs: 5000, serviceName: undefined });
});

t.test("weft's endpoint wins over OTel's traces endpoint, which wins over OTel's base endpoint", async (t) => {
  const all = { ...LOCAL, WEFT_TRACE_OTLP_ENDPOINT: 'http://weft:4318/v1/traces', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:4318/custom', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://base:4318/' };
  t.equal(parseProxyConfig(all).trace.endpoint, 'http://weft:4318/v1/traces');
  t.equal(parseProxyConfig({ ...all, WEFT_TRACE_OTLP_ENDPOINT: '' }).trace.endpoint, 'http://traces:4318/custom', 'the traces URL is used whole');
  t.equal(parseProxyConfig({ ...LOCAL, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://base:4318/' }).trace.endpoint, 'http://base:4318/v1/traces', '/v1/traces is appended to the base');
  t.equal(parseProxyConfig({ ...LOCAL, OTEL_EXPORTER_OTLP_ENDPOINT: 'https://base.example' }).trace.endpoint, 'https://base.example/v1/traces');
});

t.test('the gateway reads the same rows', async (t) => {
  const c = parseGatewayConfig({ ...LOCAL, WEFT_GATEWAY_ROUTES_FILE: '/tmp/routes.yaml', WEFT_TRACE_OTLP_ENDPOINT: 'http://c:4318/v1/traces', WEFT_TRACE_SAMPLE_RATIO: '0.25', WEFT_TRACE_EXPORT_DELAY_MS: '100', WEFT_TRACE_SERVICE_NAME: 'edge' });
  t.same(c.trace, { endpoint: 'http://c:4318/v1/traces', sampleRatio: 0.25, exportDelayMs: 100, serviceName: 'edge' });
});

t.test('bad tracing settings fail the start, each named', async (t) => {
  const bad = { ...LOCAL, WEFT_TRACE_OTLP_ENDPOINT: 'collector:4318', OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://x', WEFT_TRACE_SAMPLE_RATIO: '1.5', WEFT_TRACE_EXPORT_DELAY_MS: '-1' };
  const err = (() => {
    try {
      parseProxyConfig(bad);
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  t.ok(isWeftError(err, 'WEFT_ERR_CONFIG'));
  const message = (err as Error).message;
  t.match(message, /WEFT_TRACE_OTLP_ENDPOINT="collector:4318" is not an http or https URL|WEFT_TRACE_OTLP_ENDPOINT="collector:4318" is not a URL/);
  t.match(message, /OTEL_EXPORTER_OTLP_ENDPOINT="ftp:\/\/x" is not an http or https URL/);
  t.match(message, /WEFT_TRACE_SAMPLE_RATIO="1.5" is not a number between 0 and 1/);
  t.match(message, /WEFT_TRACE_EXPORT_DELAY_MS/);
});

t.test('sample ratios from 0 to 1 are read as numbers', async (t) => {
  for (const [raw, value] of [['0', 0], ['1', 1], ['0.5', 0.5], ['.1', 0.1], ['1.0', 1]] as const) {
    t.equal(parseProxyConfig({ ...LOCAL, WEFT_TRACE_SAMPLE_RATIO: raw }).trace.sampleRatio, value, raw);
  }
});
