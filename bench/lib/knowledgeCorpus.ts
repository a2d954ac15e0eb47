/**
 * The knowledge benchmark's corpus, written for it: a small business's handbook in 8 categories ×
 * 5 subcategories × 3 subjects, each subject with 3 of 6 aspects (policy, checklist, talk track,
 * metrics, escalation, email template) — 360 documents plus 48 category and subcategory nodes.
 * Questions name a subject and an aspect in other words (synonyms), some with typos, so the right
 * node must win over its siblings (same subject, other aspect; same aspect, other subject).
 */

export interface CorpusNode {
  path: string;
  type: 'category' | 'subcategory' | 'topic' | 'document' | 'example' | 'framework';
  title: string;
  body: string;
  labels: string[];
  intentTags: string[];
}

export interface Question {
  query: string;
  /** Paths of the nodes that answer it. */
  answers: string[];
}

type Subject = [slug: string, title: string, synonyms: string[]];

const CATEGORIES: Record<string, Record<string, Subject[]>> = {
  sales: {
    pricing: [
      ['annual-plans', 'Annual plans', ['yearly subscription', 'annual contract']],
      ['volume-discounts', 'Volume discounts', ['bulk pricing', 'quantity discount']],
      ['trial-offers', 'Trial offers', ['free trial', 'pilot period']],
    ],
    objections: [
      ['price-objection', 'Price objection', ['too expensive', 'cost pushback']],
      ['timing-objection', 'Timing objection', ['not right now', 'bad timing']],
      ['competitor-objection', 'Competitor objection', ['cheaper rival', 'other vendor']],
    ],
    prospecting: [
      ['cold-outreach', 'Cold outreach', ['first contact', 'unsolicited emails']],
      ['lead-scoring', 'Lead scoring', ['qualifying leads', 'lead ranking']],
      ['referral-asks', 'Referral asks', ['asking for introductions', 'warm intros']],
    ],
    closing: [
      ['proposal-follow-up', 'Proposal follow-up', ['chasing a quote', 'after sending the proposal']],
      ['deposit-collection', 'Deposit collection', ['upfront payment', 'booking fee']],
      ['contract-signature', 'Contract signature', ['getting it signed', 'e-signature']],
    ],
    renewals: [
      ['renewal-reminders', 'Renewal reminders', ['expiring subscription', 'contract end date']],
      ['upsell-offers', 'Upsell offers', ['upgrade pitch', 'premium tier']],
      ['churn-saves', 'Churn saves', ['cancellation rescue', 'retention offer']],
    ],
  },
  marketing: {
    email: [
      ['newsletter', 'Monthly newsletter', ['customer bulletin', 'news digest']],
      ['win-back', 'Win-back campaign', ['lapsed customers', 'dormant clients']],
      ['welcome-series', 'Welcome series', ['new subscriber emails', 'onboarding drip']],
    ],
    events: [
      ['open-house', 'Open house', ['showroom day', 'studio visit']],
      ['webinars', 'Webinars', ['online seminar', 'live demo session']],
      ['trade-shows', 'Trade shows', ['expo booth', 'industry fair']],
    ],
    referrals: [
      ['referral-rewards', 'Referral rewards', ['friend bonus', 'refer-a-friend credit']],
      ['partner-program', 'Partner program', ['affiliate partners', 'reseller network']],
      ['testimonials', 'Testimonials', ['customer quotes', 'success stories']],
    ],
    social: [
      ['instagram-posts', 'Instagram posts', ['photo posts', 'stories and reels']],
      ['review-replies', 'Review replies', ['responding to google reviews', 'yelp responses']],
      ['local-groups', 'Local community groups', ['neighbourhood forums', 'facebook groups']],
    ],
    website: [
      ['landing-pages', 'Landing pages', ['signup page', 'campaign page']],
      ['booking-widget', 'Booking widget', ['online scheduler', 'book now button']],
      ['seo-basics', 'Search engine basics', ['seo', 'ranking on google']],
    ],
  },
  operations: {
    scheduling: [
      ['double-bookings', 'Double bookings', ['overlapping appointments', 'calendar clash']],
      ['no-shows', 'No-shows', ['missed appointments', 'client did not turn up']],
      ['rescheduling', 'Rescheduling', ['moving an appointment', 'changing the time']],
    ],
    onboarding: [
      ['kickoff-call', 'Kickoff call', ['first meeting', 'intro session']],
      ['account-setup', 'Account setup', ['creating the login', 'portal access']],
      ['handover-notes', 'Sales to delivery handover', ['handoff notes', 'transition brief']],
    ],
    billing: [
      ['failed-payments', 'Failed payments', ['declined card', 'payment bounced']],
      ['payment-plans', 'Payment plans', ['instalments', 'split payments']],
      ['receipts', 'Receipts', ['proof of payment', 'payment confirmation']],
    ],
    inventory: [
      ['stock-counts', 'Stock counts', ['inventory audit', 'counting supplies']],
      ['reorder-levels', 'Reorder levels', ['minimum stock', 'restock threshold']],
      ['supplier-returns', 'Supplier returns', ['sending goods back', 'damaged delivery']],
    ],
    vendors: [
      ['vendor-selection', 'Vendor selection', ['choosing a supplier', 'comparing vendors']],
      ['purchase-orders', 'Purchase orders', ['ordering from suppliers', 'po approval']],
      ['vendor-reviews', 'Vendor reviews', ['supplier scorecard', 'rating suppliers']],
    ],
  },
  support: {
    refunds: [
      ['refund-requests', 'Refund requests', ['money back', 'reimbursement']],
      ['partial-refunds', 'Partial refunds', ['prorated refund', 'part payment back']],
      ['chargebacks', 'Chargebacks', ['card dispute', 'bank reversal']],
    ],
    complaints: [
      ['angry-callers', 'Angry callers', ['upset customer on the phone', 'shouting caller']],
      ['service-failures', 'Service failures', ['job done badly', 'poor workmanship']],
      ['delay-complaints', 'Delay complaints', ['late delivery', 'waiting too long']],
    ],
    warranty: [
      ['warranty-claims', 'Warranty claims', ['guarantee claim', 'repair under cover']],
      ['extended-warranty', 'Extended warranty', ['extra cover', 'protection plan']],
      ['warranty-exclusions', 'Warranty exclusions', ['not covered', 'void conditions']],
    ],
    escalation: [
      ['after-hours', 'After-hours emergencies', ['weekend emergency', 'night call-out']],
      ['manager-callback', 'Manager callback', ['speak to the boss', 'supervisor request']],
      ['legal-threats', 'Legal threats', ['customer threatens to sue', 'lawyer letter']],
    ],
    faq: [
      ['opening-hours', 'Opening hours', ['when are you open', 'business hours']],
      ['service-area', 'Service area', ['which towns we cover', 'travel radius']],
      ['parking', 'Parking and access', ['where to park', 'wheelchair access']],
    ],
  },
  finance: {
    invoicing: [
      ['invoice-numbering', 'Invoice numbering', ['invoice ids', 'billing sequence']],
      ['late-invoices', 'Overdue invoices', ['unpaid bills', 'past due accounts']],
      ['credit-notes', 'Credit notes', ['invoice correction', 'billing credit']],
    ],
    payroll: [
      ['pay-dates', 'Pay dates', ['salary day', 'wage schedule']],
      ['overtime-pay', 'Overtime pay', ['extra hours', 'time and a half']],
      ['expense-claims', 'Expense claims', ['reimbursing staff', 'mileage costs']],
    ],
    taxes: [
      ['sales-tax', 'Sales tax', ['vat', 'tax on invoices']],
      ['quarterly-filings', 'Quarterly filings', ['estimated tax payments', 'tax returns']],
      ['contractor-forms', 'Contractor tax forms', ['1099 forms', 'freelancer paperwork']],
    ],
    budgeting: [
      ['marketing-budget', 'Marketing budget', ['ad spend', 'promotion costs']],
      ['cash-reserve', 'Cash reserve', ['rainy day fund', 'emergency cash']],
      ['equipment-purchases', 'Equipment purchases', ['buying tools', 'capital spend']],
    ],
    collections: [
      ['payment-reminders', 'Payment reminders', ['dunning', 'nudging late payers']],
      ['collection-agency', 'Collection agency', ['debt collector', 'handing over debt']],
      ['write-offs', 'Bad debt write-offs', ['uncollectable', 'writing off balances']],
    ],
  },
  people: {
    hiring: [
      ['job-posts', 'Job posts', ['vacancy ads', 'recruiting listings']],
      ['interviews', 'Interviews', ['candidate screening', 'interview questions']],
      ['reference-checks', 'Reference checks', ['checking references', 'previous employer calls']],
    ],
    training: [
      ['new-hire-training', 'New hire training', ['first week training', 'induction']],
      ['phone-skills', 'Phone skills', ['answering calls', 'call etiquette']],
      ['certifications', 'Certifications', ['licences', 'qualification courses']],
    ],
    timeoff: [
      ['holiday-requests', 'Holiday requests', ['vacation days', 'annual leave']],
      ['sick-leave', 'Sick leave', ['calling in sick', 'illness absence']],
      ['shift-swaps', 'Shift swaps', ['trading shifts', 'cover for a colleague']],
    ],
    performance: [
      ['one-on-ones', 'One-on-ones', ['weekly check-in', 'manager meeting']],
      ['performance-reviews', 'Performance reviews', ['appraisal', 'annual review']],
      ['underperformance', 'Underperformance', ['improvement plan', 'missed targets']],
    ],
    safety: [
      ['site-safety', 'Site safety', ['hazards on the job', 'protective gear']],
      ['incident-reports', 'Incident reports', ['accident log', 'injury report']],
      ['fire-drills', 'Fire drills', ['evacuation', 'emergency exits']],
    ],
  },
  product: {
    roadmap: [
      ['quarterly-goals', 'Quarterly goals', ['okrs', 'three month plan']],
      ['feature-requests', 'Feature requests', ['customer wishlist', 'enhancement ideas']],
      ['prioritisation', 'Prioritisation', ['what to build next', 'ranking work']],
    ],
    releases: [
      ['release-notes', 'Release notes', ['changelog', 'what is new']],
      ['beta-testing', 'Beta testing', ['early access', 'pilot users']],
      ['rollbacks', 'Rollbacks', ['undoing a release', 'reverting a deploy']],
    ],
    feedback: [
      ['nps-surveys', 'NPS surveys', ['net promoter score', 'satisfaction survey']],
      ['user-interviews', 'User interviews', ['customer conversations', 'discovery calls']],
      ['bug-reports', 'Bug reports', ['defects', 'something broken']],
    ],
    quality: [
      ['code-review', 'Code review', ['pull request review', 'peer review']],
      ['test-coverage', 'Test coverage', ['automated tests', 'regression suite']],
      ['uptime', 'Uptime', ['availability', 'outages']],
    ],
    integrations: [
      ['crm-sync', 'CRM sync', ['contact syncing', 'gohighlevel connection']],
      ['calendar-integration', 'Calendar integration', ['google calendar', 'outlook sync']],
      ['payment-gateway', 'Payment gateway', ['stripe', 'card processing']],
    ],
  },
  legal: {
    contracts: [
      ['service-agreement', 'Service agreement', ['terms of service', 'master agreement']],
      ['cancellation-terms', 'Cancellation terms', ['notice period', 'ending the contract']],
      ['liability-caps', 'Liability caps', ['limitation of liability', 'damages limit']],
    ],
    privacy: [
      ['data-retention', 'Data retention', ['how long we keep records', 'deleting old data']],
      ['call-recording-consent', 'Call recording consent', ['recording disclosure', 'consent to record']],
      ['data-requests', 'Data access requests', ['gdpr request', 'customer asks for their data']],
    ],
    compliance: [
      ['do-not-call', 'Do-not-call lists', ['telemarketing rules', 'opt-out registry']],
      ['email-consent', 'Email consent', ['can-spam', 'unsubscribe rules']],
      ['sms-consent', 'SMS consent', ['text message opt-in', 'tcpa']],
    ],
    insurance: [
      ['liability-insurance', 'Liability insurance', ['public liability', 'insurance cover']],
      ['insurance-claims', 'Insurance claims', ['filing a claim', 'insurer paperwork']],
      ['certificates', 'Insurance certificates', ['proof of insurance', 'coi']],
    ],
    disputes: [
      ['small-claims', 'Small claims', ['small claims court', 'suing for money owed']],
      ['mediation', 'Mediation', ['neutral third party', 'settling a dispute']],
      ['demand-letters', 'Demand letters', ['formal demand', 'letter before action']],
    ],
  },
};

interface Aspect {
  slug: string;
  title: string;
  synonyms: string[];
  type: CorpusNode['type'];
  intent: string;
  body: (subject: string, synonyms: string[]) => string;
}

const ASPECTS: Aspect[] = [
  {
    slug: 'policy',
    title: 'policy',
    synonyms: ['rules', 'policy', 'guideline'],
    type: 'document',
    intent: 'policy',
    body: (s, syn) =>
      `The rules for ${s.toLowerCase()} that everyone follows. This guideline applies whenever ${syn[0]} comes up; exceptions need the owner's approval and a note on the record.`,
  },
  {
    slug: 'checklist',
    title: 'checklist',
    synonyms: ['steps', 'checklist', 'procedure'],
    type: 'framework',
    intent: 'how-to',
    body: (s, syn) =>
      `Step by step procedure for ${s.toLowerCase()}: confirm the details, check the record, act, then log what was done. Use it for any ${syn[1]} case.`,
  },
  {
    slug: 'talk-track',
    title: 'talk track',
    synonyms: ['script', 'what to say', 'wording'],
    type: 'example',
    intent: 'wording',
    body: (s, syn) =>
      `A script for ${s.toLowerCase()}: what to say first, how to word the offer, and a closing line. Example wording when a customer raises ${syn[0]}.`,
  },
  {
    slug: 'metrics',
    title: 'metrics',
    synonyms: ['numbers', 'kpis', 'targets'],
    type: 'topic',
    intent: 'measure',
    body: (s, syn) =>
      `The numbers we track for ${s.toLowerCase()}: weekly kpis, the targets for this year and where the report lives. Review ${syn[1]} figures every Monday.`,
  },
  {
    slug: 'escalation',
    title: 'escalation path',
    synonyms: ['who to escalate to', 'approval', 'owner'],
    type: 'document',
    intent: 'escalate',
    body: (s, syn) =>
      `Who owns ${s.toLowerCase()} and when to escalate: the first owner, the approval needed above the usual limits, and who to call out of hours about ${syn[0]}.`,
  },
  {
    slug: 'email-template',
    title: 'email template',
    synonyms: ['email template', 'message template', 'draft email'],
    type: 'example',
    intent: 'wording',
    body: (s, syn) =>
      `A message template for ${s.toLowerCase()}: subject line, greeting, two short paragraphs and a sign-off. Copy this draft email when writing about ${syn[1]}.`,
  },
];

const words = (s: string) =>
  s
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 2);

export function buildCorpus(): { nodes: CorpusNode[]; questions: Question[] } {
  const nodes: CorpusNode[] = [];
  const docs: { path: string; subject: Subject; aspect: Aspect }[] = [];
  let subjectNo = 0;
  for (const [category, subcats] of Object.entries(CATEGORIES)) {
    nodes.push({
      path: `/${category}`,
      type: 'category',
      title: category[0]!.toUpperCase() + category.slice(1),
      body: `Everything about ${category}: ${Object.keys(subcats).join(', ')}.`,
      labels: [category],
      intentTags: [],
    });
    for (const [subcat, subjects] of Object.entries(subcats)) {
      nodes.push({
        path: `/${category}/${subcat}`,
        type: 'subcategory',
        title: `${subcat[0]!.toUpperCase()}${subcat.slice(1)}`,
        body: `${subcat} in ${category}: ${subjects.map((s) => s[1]).join(', ')}.`,
        labels: [category, subcat],
        intentTags: [],
      });
      for (const subject of subjects) {
        const [slug, title, syn] = subject;
        for (const k of [0, 2, 4]) {
          const aspect = ASPECTS[(subjectNo + k) % ASPECTS.length]!;
          const path = `/${category}/${subcat}/${slug}-${aspect.slug}`;
          nodes.push({
            path,
            type: aspect.type,
            title: `${title} ${aspect.title}`,
            body: `${aspect.body(title, syn)} Also known as: ${syn.join(', ')}.`,
            labels: [subcat, ...words(title).slice(0, 2)],
            intentTags: [aspect.intent],
          });
          docs.push({ path, subject, aspect });
        }
        subjectNo++;
      }
    }
  }
  const questions: Question[] = [];
  const templates = [
    (a: string, s: string) => `What is our ${a} for ${s}?`,
    (a: string, s: string) => `where do I find the ${a} about ${s}`,
    (a: string, s: string) => `${s} ${a}`,
    (a: string, s: string) => `Can you show me the ${a} we use when dealing with ${s}?`,
  ];
  for (let i = 0; i < 100; i++) {
    const d = docs[Math.floor((i * docs.length) / 100)]!;
    const subjectWords = i % 3 === 0 ? d.subject[1].toLowerCase() : d.subject[2][i % 2]!;
    const aspectWords = d.aspect.synonyms[i % d.aspect.synonyms.length]!;
    let query = templates[i % templates.length]!(aspectWords, subjectWords);
    if (i % 7 === 3) query = withTypo(query);
    questions.push({ query, answers: [d.path] });
  }
  return { nodes, questions };
}

/** Two inner letters of the longest word swapped: "invoice" → "inovice". */
function withTypo(q: string): string {
  const longest = q.split(/\s+/).reduce((a, b) => (b.length > a.length ? b : a), '');
  if (longest.length < 6) return q;
  const i = Math.floor(longest.length / 2);
  const typo = longest.slice(0, i - 1) + longest[i] + longest[i - 1] + longest.slice(i + 1);
  return q.replace(longest, typo);
}

/**
 * Filler up to `total` nodes: meeting notes and archived drafts that mention the corpus's own
 * subjects and aspects in passing, so the search works through realistic noise.
 */
export function fillerNodes(base: CorpusNode[], total: number): CorpusNode[] {
  const docs = base.filter((n) => n.type !== 'category' && n.type !== 'subcategory');
  const out: CorpusNode[] = [];
  for (let i = 0; out.length + base.length < total; i++) {
    const a = docs[(i * 7) % docs.length]!;
    const b = docs[(i * 13 + 5) % docs.length]!;
    out.push({
      path: `/archive/${Math.floor(i / 500)}/note-${i}`,
      type: 'document',
      title: `Meeting notes ${i}`,
      body: `Discussed ${a.title.toLowerCase()} briefly and parked ${b.title.toLowerCase()} for later. Action items: follow up next week, update the shared folder, confirm attendance for the team lunch.`,
      labels: ['notes'],
      intentTags: [],
    });
  }
  return out;
}
