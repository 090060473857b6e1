/**
 * Milestone messages to people: contacts per integration, one email per milestone per person
 * (from the onboarding outbox and passed validation reports), sent over SMTP with STARTTLS, with
 * retries and a delivery log. The public API of the module.
 */
export { addContact, listContacts, removeContact, type ContactView } from './contacts.ts';
export { runNotificationPass, startNotificationLoop, type NotificationLoop } from './delivery.ts';
export { createMailer, type Mailer } from './mailer.ts';
export { CONTACT_ROLES, milestoneOf, produceNotifications, RECIPIENTS } from './produce.ts';
export { MILESTONES, renderMessage, type MessageParams, type Milestone } from './templates.ts';
