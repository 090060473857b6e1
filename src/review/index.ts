/**
 * The customer's review of their data: a signed, expiring link per controller and report, the
 * read-only page behind it, and the recorded answer ("complete and accurate" or "something is
 * wrong"). The public API of the module.
 */
export {
  checkCsrf,
  csrfToken,
  deriveReviewKeys,
  reviewUrl,
  signReviewToken,
  verifyReviewToken,
  type ReviewKeys,
} from './links.ts';
export { reviewRouter } from './router.ts';
export { resendReviewLink } from './service.ts';
