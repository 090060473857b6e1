import { z } from 'zod';
import type { Secrets } from '../config/index.ts';
import {
  generateCsr,
  installCertificate,
  KEY_ALGORITHMS,
  listCertificates,
  listKeyPairs,
  retireCertificate,
  testConnection,
  type CertificateView,
  type ConnectionTesterFactory,
} from '../credentials/index.ts';
import { ENVIRONMENTS } from '../domain/types.ts';
import { PAGE_QUERY, pageSchema } from '../http/pagination.ts';
import { answerBeforeCommit, defineRoute, type Route } from '../http/routes.ts';
import type { ConnectionTestResult } from '../jpm/connection-test.ts';
import { requestScheduleReconcile, type Queues } from '../scheduler/index.ts';
import { createLogger } from '../shared/logger.ts';
import type { Database } from '../storage/db.ts';
import { deprecatedAlias, Id, IdParams } from './dto.ts';
import {
  CertificateSchema,
  CertificateStatus,
  ConnectionTestSchema,
  KeyPairSchema,
  toCertificateDto,
  toConnectionTestDto,
  toKeyPairDto,
} from './integration-credentials.dto.ts';
import { getKeyPair } from './integration-credentials.service.ts';
import { actorOf, integrationOrganization, pageInMemory } from './lookup.ts';

/**
 * An integration's credentials: key pairs with their CSRs (the private key is sealed at rest and
 * never leaves the service; the CSR is public material to send to J.P. Morgan), the certificates
 * J.P. Morgan issues for them, and the connection test. Rotation: generate a CSR, install the new
 * certificate (two may be active per Common Name), then retire the old one.
 */
export interface CredentialRouteDeps {
  db: Database;
  /** A certificate installed for an integration whose certificates had expired brings its schedules back. */
  queues: Queues;
  secrets: Pick<Secrets, 'masterKey' | 'previousMasterKeys'>;
  /** Builds the J.P. Morgan client the connection test runs with (main/ wires `new JpmClient(...)`). */
  connectionTester: ConnectionTesterFactory<ConnectionTestResult>;
  now?: () => Date;
}

const TAGS = ['Integration credentials'];
const MAX_PEM = 100_000;

export function integrationCredentialRoutes(deps: CredentialRouteDeps): Route[] {
  const now = deps.now ?? (() => new Date());
  const scope = integrationOrganization;
  const keyPairs = [
    defineRoute({
      method: 'post',
      path: '/v1/integrations/{id}/key-pairs',
      permission: 'integrations:write',
      tags: TAGS,
      auditTarget: 'key_pair',
      summary: 'Generate a key pair and CSR',
      description:
        "The private key is sealed (envelope encryption) before it is stored and is never returned. The Common Name gets the environment's suffix (-sim, -cat, -prod); without one it derives from the integration name. 409 `integration_cancelled` for a cancelled integration.",
      request: {
        params: IdParams,
        body: z.object({
          subject: z.strictObject({
            country: z.string().meta({ description: 'ISO 3166 two letters, e.g. US' }),
            state: z.string().max(64).optional(),
            locality: z.string().max(64).optional(),
            organization: z.string().max(64),
            organizationalUnit: z.string().max(64).optional(),
            commonName: z.string().max(64).optional(),
          }),
          algorithm: z.enum(KEY_ALGORITHMS).optional().meta({ description: 'Default RSA-2048' }),
          environment: z.enum(ENVIRONMENTS).optional().meta({ description: "Default: the integration's environment" }),
        }),
      },
      response: { status: 201, schema: KeyPairSchema, description: 'The key pair with its CSR (PEM)' },
      errors: [409],
      handler: async ({ params, body, access, audit, principal, atomicAnswer }) => {
        audit.target({ organizationId: await scope(deps.db, access, params.id) });
        const phase = answerBeforeCommit(atomicAnswer, toKeyPairDto);
        const kp = await generateCsr(
          deps.db,
          deps.secrets,
          {
            integrationId: params.id,
            subject: body.subject,
            actor: actorOf(principal),
            ...(body.algorithm ? { algorithm: body.algorithm } : {}),
            ...(body.environment ? { environment: body.environment } : {}),
          },
          phase.beforeCommit,
        );
        audit.target({ id: kp.id });
        return phase.answer(kp);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/integrations/{id}/key-pairs',
      permission: 'integrations:read',
      tags: TAGS,
      summary: 'List key pairs and their CSRs',
      description: 'Oldest first.',
      request: { params: IdParams, query: z.object({ ...PAGE_QUERY, environment: z.enum(ENVIRONMENTS).optional() }) },
      response: {
        status: 200,
        schema: pageSchema(KeyPairSchema).meta({ id: 'KeyPairPage' }),
        description: 'A page of key pairs',
      },
      handler: async ({ params, query, access }) => {
        await scope(deps.db, access, params.id);
        const page = pageInMemory(
          await listKeyPairs(deps.db, params.id, query.environment),
          query,
          (k) => k.id,
          'uuid',
        );
        return { data: page.rows.map(toKeyPairDto), nextCursor: page.nextCursor };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/integrations/{id}/key-pairs/{keyPairId}',
      permission: 'integrations:read',
      tags: TAGS,
      summary: 'Download a CSR',
      description: 'The key pair with its CSR in `csrPem`, to save as a .csr/.pem file and submit to J.P. Morgan.',
      request: { params: z.object({ id: Id, keyPairId: Id }) },
      response: { status: 200, schema: KeyPairSchema, description: 'The key pair with its CSR (PEM)' },
      handler: async ({ params, access }) =>
        toKeyPairDto(await getKeyPair(deps.db, access, params.id, params.keyPairId)),
    }),
  ];
  return [
    ...keyPairs,
    // The resource is the key pair (the CSR is one of its fields); /csrs was its first name.
    ...keyPairs.map((r) => deprecatedAlias(r, r.path.replace('/key-pairs', '/csrs') as Route['path'])),
    defineRoute({
      method: 'post',
      path: '/v1/integrations/{id}/certificates',
      permission: 'integrations:write',
      tags: TAGS,
      auditTarget: 'certificate',
      summary: 'Install an issued certificate',
      description:
        'It must match a key pair generated for this integration, be valid now, be a TLS client certificate, chain to `chainPem` when given, and keep its Common Name at two active certificates at most. Installing the same certificate again returns it. Refused: 422 `certificate_refused` listing every problem; 409 `too_many_active_certificates`, or `integration_cancelled` for a cancelled integration.',
      request: {
        params: IdParams,
        body: z.object({
          certificatePem: z.string().min(1).max(MAX_PEM),
          chainPem: z.string().max(MAX_PEM).nullable().optional(),
        }),
      },
      response: { status: 201, schema: CertificateSchema, description: 'The installed certificate' },
      errors: [409, 422],
      handler: async ({ params, body, access, audit, principal, atomicAnswer }) => {
        audit.target({ organizationId: await scope(deps.db, access, params.id) });
        const phase = answerBeforeCommit(atomicAnswer, (view: CertificateView) => toCertificateDto(view, now()));
        const cert = await installCertificate(
          deps.db,
          {
            integrationId: params.id,
            certificatePem: body.certificatePem,
            chainPem: body.chainPem ?? null,
            actor: actorOf(principal),
            now: now(),
          },
          phase.beforeCommit,
        );
        audit.target({ id: cert.id });
        // The install may have ended a `certificate_expired` stop (its schedulers were removed): reconcile them now,
        // not at the next daily reconcile. The certificate is installed either way; a request that cannot be sent
        // (Redis away) leaves that to the daily reconcile rather than failing an install a retry could not repeat.
        await requestScheduleReconcile(deps.queues, { integrationId: params.id }).catch((err: unknown) =>
          createLogger('credentials').warn({ err, integrationId: params.id }, 'schedule reconcile not requested'),
        );
        return phase.answer(cert);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/integrations/{id}/certificates',
      permission: 'integrations:read',
      tags: TAGS,
      summary: 'List certificates',
      description: 'Oldest first.',
      request: {
        params: IdParams,
        query: z.object({
          ...PAGE_QUERY,
          status: CertificateStatus.optional(),
          environment: z.enum(ENVIRONMENTS).optional(),
        }),
      },
      response: {
        status: 200,
        schema: pageSchema(CertificateSchema).meta({ id: 'CertificatePage' }),
        description: 'A page of certificates',
      },
      handler: async ({ params, query, access }) => {
        await scope(deps.db, access, params.id);
        const rows = await listCertificates(deps.db, params.id, {
          ...(query.status ? { status: query.status } : {}),
          ...(query.environment ? { environment: query.environment } : {}),
        });
        const page = pageInMemory(rows, query, (c) => c.id, 'uuid');
        const at = now();
        return { data: page.rows.map((c) => toCertificateDto(c, at)), nextCursor: page.nextCursor };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/integrations/{id}/certificates/{certificateId}/retire',
      permission: 'integrations:write',
      tags: TAGS,
      auditTarget: 'certificate',
      summary: 'Retire a certificate',
      description:
        'The last step of a rotation. Refused (409 `last_usable_certificate`) when it is the only usable certificate of an integration that syncs, unless `force`.',
      request: { params: z.object({ id: Id, certificateId: Id }), body: z.object({ force: z.boolean().optional() }) },
      response: { status: 200, schema: CertificateSchema, description: 'The retired certificate' },
      errors: [409],
      handler: async ({ params, body, access, audit, principal, atomicAnswer }) => {
        audit.target({ id: params.certificateId, organizationId: await scope(deps.db, access, params.id) });
        const phase = answerBeforeCommit(atomicAnswer, (view: CertificateView) => toCertificateDto(view, now()));
        const cert = await retireCertificate(
          deps.db,
          {
            integrationId: params.id,
            certificateId: params.certificateId,
            actor: actorOf(principal),
            now: now(),
            ...(body.force ? { force: true } : {}),
          },
          phase.beforeCommit,
        );
        return phase.answer(cert);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/integrations/{id}/test-connection',
      permission: 'integrations:write',
      tags: TAGS,
      auditTarget: 'integration',
      summary: 'Test the connection to J.P. Morgan',
      description:
        'Checks our side (a usable certificate whose key we can unseal), then DNS, the TLS handshake with our certificate, and one minimal balance call (entitlement). 200 whether or not the connection works: the report says which step failed and why. 409 `integration_cancelled` for a cancelled integration (J.P. Morgan is not called).',
      request: { params: IdParams },
      response: { status: 200, schema: ConnectionTestSchema, description: 'The report' },
      handler: async ({ params, access, audit }) => {
        audit.target({ id: params.id, organizationId: await scope(deps.db, access, params.id) });
        return toConnectionTestDto(
          await testConnection(deps.db, deps.secrets, params.id, deps.connectionTester, now()),
        );
      },
    }),
  ];
}
