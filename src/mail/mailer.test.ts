import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSmtpServer } from '../../test/support/smtp.js';
import { createMailer } from './mailer.js';

const logger = pino({ level: 'silent' });
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
beforeAll(async () => {
  smtp = await startSmtpServer();
});
afterAll(async () => smtp.close());

describe('mailer', () => {
  it('delivers over real SMTP', async () => {
    const mailer = createMailer({ kind: 'smtp', url: smtp.url, from: 'privacy@avow.test' }, logger);
    const sent = await mailer.send({
      to: 'anna@example.com',
      subject: 'Your request req_1',
      text: 'We received it.',
    });
    expect(sent.delivery).toBe('smtp');
    const mail = await smtp.waitFor((m) => m.subject === 'Your request req_1');
    expect(mail.from?.text).toBe('privacy@avow.test');
    expect(mail.text?.trim()).toBe('We received it.');
    mailer.close();
  });

  it('writes to the outbox folder when there is no SMTP server', async () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'avow-mail-')), 'outbox');
    const mailer = createMailer({ kind: 'outbox', dir, from: 'privacy@avow.test' }, logger);
    const sent = await mailer.send({ to: 'anna@example.com', subject: 'Code', text: '123456' });
    expect(sent.file && path.dirname(sent.file)).toBe(dir);
    expect(readdirSync(dir)).toHaveLength(1);
    expect(readFileSync(sent.file ?? '', 'utf8')).toContain('Subject: Code');
  });
});
