// Derived from /work/shared/peers/strict_csms/csms.js (the independent strict CSMS, ocpp-rpc strictMode)
// by the ocpps helper: adds --sign-ca DIR (ca.pem + ca.key, signed with openssl x509 -req) so the
// same independent peer runs certificate signing (InstallCertificate CSMS root, TriggerMessage
// SignChargingStationCertificate / ExtendedTriggerMessage SignChargePointCertificate, CertificateSigned).
// Run from a copy of the peer folder with node_modules: node strict_csms_sign.js --port P --log F --sign-ca DIR
// Independent CSMS for checking a charge point: OCPP 1.6J and 2.0.1 over websockets, strict schema
// validation of every message in both directions (ocpp-rpc strictMode). Logs every call as JSON lines.
//   node csms.js --port 9310 --log calls.jsonl [--reject TOKEN]... [--seconds 120]
// Exits after --seconds, or 3 s after the last charge point disconnects; prints a summary line.
// Like an operator's backend, it configures the charge point after boot (meter sampling every
// --sample-s seconds, default 5) and asks for a Heartbeat by TriggerMessage; the answers are in
// the summary as csmsCalls. With --certification it also runs, after the configuration, the
// management calls an operator makes: 1.6 ReserveNow/CancelReservation and GetDiagnostics; 2.0.1
// GetInstalledCertificateIds, InstallCertificate (--root-pem FILE, a V2G root), ReserveNow/
// CancelReservation and GetLog.
const { RPCServer, createRPCError } = require('ocpp-rpc');
const fs = require('fs');

const args = process.argv.slice(2);
const opt = (k, d) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : d; };
const port = parseInt(opt('--port', '9310'), 10);
const logPath = opt('--log', 'calls.jsonl');
const seconds = parseFloat(opt('--seconds', '180'));
const sampleS = parseInt(opt('--sample-s', '5'), 10);
const certification = args.includes('--certification');
const rootPem = opt('--root-pem', '');
// ocpps extension: --sign-ca DIR (ca.pem + ca.key) installs that CA as the CSMS root (and as
// the V2G root in 2.0.1), triggers certificate signing, signs each CSR with openssl and sends
// CertificateSigned; the answers are in csmsCalls like the others.
const signCa = opt('--sign-ca', '');
const { execFileSync } = require('child_process');
const os = require('os'); const path = require('path');
const signCsr = (csr) => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'csr-'));
  fs.writeFileSync(path.join(d, 'req.csr'), csr);
  execFileSync('openssl', ['x509', '-req', '-in', path.join(d, 'req.csr'), '-CA', path.join(signCa, 'ca.pem'),
    '-CAkey', path.join(signCa, 'ca.key'), '-CAcreateserial', '-CAserial', path.join(d, 'ca.srl'), '-days', '365', '-sha256', '-out', path.join(d, 'leaf.pem')], { stdio: 'ignore' });
  return fs.readFileSync(path.join(d, 'leaf.pem'), 'utf8') + fs.readFileSync(path.join(signCa, 'ca.pem'), 'utf8');
};
const rejected = new Set(args.filter((a, i) => args[i - 1] === '--reject'));
const log = fs.createWriteStream(logPath);
const seen = {}; const csmsCalls = {}; let schemaErrors = 0; let clients = 0; let txSeq = 1000;
const now = () => new Date().toISOString();
const record = (o) => log.write(JSON.stringify({ t: now(), ...o }) + '\n');

const server = new RPCServer({ protocols: ['ocpp1.6', 'ocpp2.0.1'], strictMode: true });
server.on('client', (client) => {
  clients++;
  const proto = client.protocol;
  record({ event: 'connect', identity: client.identity, protocol: proto });
  client.on('badMessage', (e) => { schemaErrors++; record({ event: 'badMessage', error: String(e.error || e) }); });
  client.on('strictValidationFailure', (e) => { schemaErrors++; record({ event: 'strictValidationFailure', error: String(e.error && e.error.message || e) }); });
  client.on('close', () => { record({ event: 'close', identity: client.identity }); clients--; if (clients === 0) setTimeout(finish, 3000); });
  const on = (action, fn) => client.handle(action, ({ params }) => {
    seen[action] = (seen[action] || 0) + 1;
    record({ dir: 'cp->csms', action, params });
    return fn(params);
  });
  const call = async (action, params) => {
    try {
      const res = await client.call(action, params);
      record({ dir: 'csms->cp', action, params, res });
      csmsCalls[action] = (res && (res.status || (res.setVariableResult && res.setVariableResult.map((r) => r.attributeStatus).join(',')))) || 'ok';
    } catch (e) {
      record({ dir: 'csms->cp', action, params, error: String(e && e.message || e) });
      csmsCalls[action] = 'error: ' + String(e && (e.code || e.message) || e);
    }
  };
  const configure = () => setTimeout(async () => {
    if (proto === 'ocpp1.6') {
      await call('ChangeConfiguration', { key: 'MeterValueSampleInterval', value: String(sampleS) });
      await call('TriggerMessage', { requestedMessage: 'Heartbeat' });
      if (certification) {
        const exp = new Date(Date.now() + 3600e3).toISOString();
        await call('ReserveNow', { connectorId: 1, expiryDate: exp, idTag: 'RESERVED-0001', reservationId: 7 });
        await call('CancelReservation', { reservationId: 7 });
        await call('GetDiagnostics', { location: 'ftp://127.0.0.1/diag' });
      }
      if (signCa) {
        await call('InstallCertificate', { certificateType: 'CentralSystemRootCertificate', certificate: fs.readFileSync(path.join(signCa, 'ca.pem'), 'utf8') });
        await call('GetInstalledCertificateIds', { certificateType: 'CentralSystemRootCertificate' });
        await call('ExtendedTriggerMessage', { requestedMessage: 'SignChargePointCertificate' });
      }
    } else {
      await call('SetVariables', { setVariableData: [{ component: { name: 'SampledDataCtrlr' }, variable: { name: 'TxUpdatedInterval' }, attributeValue: String(sampleS) }] });
      await call('TriggerMessage', { requestedMessage: 'Heartbeat' });
      if (certification) {
        const exp = new Date(Date.now() + 3600e3).toISOString();
        await call('GetInstalledCertificateIds', { certificateType: ['V2GRootCertificate'] });
        if (rootPem) await call('InstallCertificate', { certificateType: 'V2GRootCertificate', certificate: fs.readFileSync(rootPem, 'utf8') });
        await call('ReserveNow', { id: 7, expiryDateTime: exp, idToken: { idToken: 'RESERVED-0001', type: 'ISO14443' }, evseId: 1 });
        await call('CancelReservation', { reservationId: 7 });
        await call('GetLog', { logType: 'DiagnosticsLog', requestId: 11, log: { remoteLocation: 'ftp://127.0.0.1/log' } });
      }
      if (signCa) {
        const ca = fs.readFileSync(path.join(signCa, 'ca.pem'), 'utf8');
        await call('InstallCertificate', { certificateType: 'CSMSRootCertificate', certificate: ca });
        await call('TriggerMessage', { requestedMessage: 'SignChargingStationCertificate' });
      }
    }
  }, 300);
  const token = (p) => (p.idTag || (p.idToken && p.idToken.idToken) || '');
  if (proto === 'ocpp1.6') {
    on('BootNotification', () => { configure(); return { status: 'Accepted', currentTime: now(), interval: 300 }; });
    on('Heartbeat', () => ({ currentTime: now() }));
    on('StatusNotification', () => ({}));
    on('Authorize', (p) => ({ idTagInfo: { status: rejected.has(token(p)) ? 'Invalid' : 'Accepted' } }));
    on('StartTransaction', (p) => ({ transactionId: txSeq++, idTagInfo: { status: rejected.has(token(p)) ? 'Invalid' : 'Accepted' } }));
    on('MeterValues', () => ({}));
    on('StopTransaction', () => ({ idTagInfo: { status: 'Accepted' } }));
    on('DataTransfer', () => ({ status: 'Accepted' }));
    on('DiagnosticsStatusNotification', () => ({}));
    on('FirmwareStatusNotification', () => ({}));
    on('SecurityEventNotification', () => ({}));
    on('SignCertificate', (p) => { setTimeout(() => call('CertificateSigned', { certificateChain: signCsr(p.csr) }), 200); return { status: 'Accepted' }; });
  } else {
    on('BootNotification', () => { configure(); return { status: 'Accepted', currentTime: now(), interval: 300 }; });
    on('Heartbeat', () => ({ currentTime: now() }));
    on('StatusNotification', () => ({}));
    on('Authorize', (p) => ({ idTokenInfo: { status: rejected.has(token(p)) ? 'Invalid' : 'Accepted' } }));
    on('TransactionEvent', (p) => (p.idToken ? { idTokenInfo: { status: rejected.has(token(p)) ? 'Invalid' : 'Accepted' } } : {}));
    on('MeterValues', () => ({}));
    on('NotifyEvent', () => ({}));
    on('NotifyReport', () => ({}));
    on('SecurityEventNotification', () => ({}));
    on('DataTransfer', () => ({ status: 'Accepted' }));
    on('Get15118EVCertificate', () => ({ status: 'Failed', exiResponse: '' }));
    on('GetCertificateStatus', () => ({ status: 'Failed' }));
    on('SignCertificate', (p) => { setTimeout(() => call('CertificateSigned', { certificateChain: signCsr(p.csr), certificateType: p.certificateType || 'ChargingStationCertificate' }), 200); return { status: 'Accepted' }; });
  }
  client.handle(({ method, params }) => {
    seen[method] = (seen[method] || 0) + 1;
    record({ dir: 'cp->csms', action: method, params, unhandled: true });
    throw createRPCError('NotImplemented');
  });
});

function finish() {
  const summary = { protocolsSeen: true, actions: seen, csmsCalls, schemaErrors };
  record({ event: 'summary', ...summary });
  console.log('csms summary ' + JSON.stringify(summary));
  log.end(() => process.exit(0));
}
server.listen(port, '127.0.0.1').then(() => console.log(`csms listening on ws://127.0.0.1:${port}/`));
setTimeout(finish, seconds * 1000);
