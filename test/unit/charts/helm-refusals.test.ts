// Values that would break later are refused by the real `helm template` (the values schema or a
// template `fail`), with a message naming the values.
import t from 'tap';
import { helmTemplateRun } from './helm.js';

const REFUSED: readonly { why: string; values: Record<string, unknown>; message: RegExp }[] = [
  { why: 'commonLabels colliding with a selector label', values: { commonLabels: { 'weft.dev/component': 'mine' } }, message: /commonLabels\.weft\.dev\/component: the chart sets the label "weft\.dev\/component" itself/ },
  { why: 'commonLabels colliding with app.kubernetes.io/instance', values: { commonLabels: { 'app.kubernetes.io/instance': 'x' } }, message: /commonLabels\.app\.kubernetes\.io\/instance: the chart sets the label/ },
  { why: 'podLabels colliding with a selector label', values: { injector: { podLabels: { 'app.kubernetes.io/name': 'x' } } }, message: /injector\.podLabels\.app\.kubernetes\.io\/name: the chart sets the label/ },
  { why: 'gateway.adminPort equal to httpPort', values: { gateway: { enabled: true, adminPort: 8080 } }, message: /gateway\.adminPort 8080 is also gateway\.httpPort or gateway\.httpsPort \(8080, 8443\)/ },
  { why: 'gateway.adminPort equal to httpsPort', values: { gateway: { enabled: true, adminPort: 9443, httpsPort: 9443 } }, message: /gateway\.adminPort 9443 is also gateway\.httpPort or gateway\.httpsPort/ },
  { why: 'HPA minReplicas above maxReplicas', values: { gateway: { enabled: true, autoscaling: { enabled: true, minReplicas: 5, maxReplicas: 3 } } }, message: /gateway\.autoscaling\.minReplicas 5 is above gateway\.autoscaling\.maxReplicas 3/ },
  { why: 'maxUnavailable 0', values: { ca: { podDisruptionBudget: { enabled: true, maxUnavailable: 0 } } }, message: /at '\/ca\/podDisruptionBudget\/maxUnavailable': minimum: got 0, want 1/ },
  { why: 'maxUnavailable 0%', values: { gateway: { podDisruptionBudget: { enabled: true, maxUnavailable: '0%' } } }, message: /'0%' does not match pattern/ },
  { why: 'loadBalancerSourceRanges on a ClusterIP Service', values: { gateway: { enabled: true, service: { type: 'ClusterIP', loadBalancerSourceRanges: ['10.0.0.0/8'] } } }, message: /gateway\.service\.loadBalancerSourceRanges is set but gateway\.service\.type is ClusterIP/ },
  { why: 'a digest that is not sha256 hex', values: { image: { digest: 'sha256:xyz' } }, message: /at '\/image\/digest'/ },
  { why: 'a tag with an @ in it', values: { image: { tag: '@sha256:' + 'a'.repeat(64) } }, message: /at '\/image\/tag'/ },
  { why: 'a priorityClassName that is not a name', values: { ca: { priorityClassName: 'System Critical' } }, message: /at '\/ca\/priorityClassName'/ },
  { why: 'provider injector with an existingSecret', values: { injector: { tls: { provider: 'injector', existingSecret: 'mine' } } }, message: /at '\/injector\/tls\/existingSecret'/ },
  { why: 'a zero injector certificate lifetime', values: { injector: { tls: { provider: 'injector', injector: { lifetimeHours: 0 } } } }, message: /at '\/injector\/tls\/injector\/lifetimeHours'/ },
  { why: 'a spread constraint without topologyKey', values: { gateway: { topologySpreadConstraints: [{ maxSkew: 1, whenUnsatisfiable: 'DoNotSchedule' }] } }, message: /at '\/gateway\/topologySpreadConstraints\/0'.*topologyKey/ },
];

for (const r of REFUSED) {
  t.test(`helm template refuses ${r.why}, naming the value`, async (t) => {
    const run = helmTemplateRun(r.values);
    t.not(run.status, 0, 'helm template fails');
    t.match(run.stderr, r.message);
    t.equal(run.stdout, '', 'nothing is rendered');
  });
}

t.test('gateway port checks do not apply when the gateway is off', async (t) => {
  t.equal(helmTemplateRun({ gateway: { enabled: false, adminPort: 8080 } }).status, 0);
});
