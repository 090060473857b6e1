/**
 * Milestone messages to people: contacts per integration, one email per milestone per person
 * (from the onboarding outbox and passed validation reports), sent over SMTP with STARTTLS, with
 * retries and a delivery log. The public API of the module.
 */
export { addContact, contactView, listContacts, removeContact, type ContactView } from './contacts.ts';
export {
  runNotificationPass,
  startNotificationLoop,
  type NotificationLoop,
  type NotificationPassResult,
  type NotificationRunnerDeps,
} from './delivery.ts';
export { createMailer, type Mailer, type MailerSettings, type OutgoingMessage } from './mailer.ts';
export {
  CONTACT_ROLES,
  DEFAULT_MAX_AGE_SECONDS,
  milestoneOf,
  produceNotifications,
  RECIPIENTS,
  REVIEW_LINK_DAYS,
  type ContactRole,
} from './produce.ts';
export { MILESTONES, renderMessage, type MessageParams, type Milestone } from './templates.ts';
