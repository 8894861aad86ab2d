"""The fixed material of the demo organization: its people, its two processes and the words its deals
are written with. deals/demo.py turns these into a deterministic history."""

from orgs.models import Role

DEMO_SLUG = "demo"
DEMO_NAME = "Demo Co"
DEMO_PASSWORD = "demo-pass-2026"

# (email, full name, role); every rep reports to the manager.
DEMO_PEOPLE = [
    ("ops@demo.test", "Olivia Park", Role.OPS),
    ("manager@demo.test", "Marcus Bell", Role.MANAGER),
    ("rep1@demo.test", "Rita Gomez", Role.REP),
    ("rep2@demo.test", "Sam Okafor", Role.REP),
    ("rep3@demo.test", "Lena Fischer", Role.REP),
    ("rep4@demo.test", "Tom Walsh", Role.REP),
    ("admin@demo.test", "Ada Novak", Role.ADMIN),
]

# Per rep (rep1..rep4): how much more or less often they lose at each stage, and how fast they move.
# A strong closer, two steady reps and a new hire, so the analytics have something to show.
REP_PROFILES = [
    {"lose": 0.75, "speed": 0.85, "touch": 1.2},
    {"lose": 1.0, "speed": 1.0, "touch": 1.0},
    {"lose": 1.05, "speed": 1.15, "touch": 0.9},
    {"lose": 1.35, "speed": 1.25, "touch": 0.7},
]

# "New business" spans the customer's three questions. The value phase proper comes after the win
# (DESIGN.md), but stages are open states and a won deal has none; so the last open stage is where
# that question starts to be answered: at commit, rep and customer agree, per stakeholder, how value
# will be measured and hand the account to onboarding. The deal is won at signature; the agreed
# measures are what the value-confirmation conversations (and the next Expansion deal) come back to.
NEW_BUSINESS = {
    "name": "New business",
    "description": "First deal with a new customer, from first conversation to signature.",
    "stages": [
        {
            "name": "Qualify",
            "phase": "change",
            "probability": 10,
            "expected_days": 14,
            "guidance": "Is there a problem worth solving, and does someone own it?",
            "criteria": [
                {"kind": "step", "label": "Confirm the pain and who owns it", "importance": "mandatory"},
                {
                    "kind": "activity_kind",
                    "label": "Discovery call held",
                    "importance": "mandatory",
                    "activity_kind": "call",
                },
                {
                    "kind": "field",
                    "label": "Lead source recorded",
                    "importance": "optional",
                    "field_name": "lead_source",
                },
            ],
        },
        {
            "name": "Discover",
            "phase": "change",
            "probability": 20,
            "expected_days": 21,
            "guidance": "Understand each stakeholder's situation, the results they want and what they win.",
            "criteria": [
                {
                    "kind": "stakeholder_role",
                    "label": "Champion identified",
                    "importance": "mandatory",
                    "role": "champion",
                },
                {
                    "kind": "answer",
                    "label": "Cost of doing nothing",
                    "importance": "mandatory",
                    "question": "What happens if the customer does nothing this year?",
                },
                {"kind": "step", "label": "Map the stakeholders' desired results", "importance": "optional"},
            ],
        },
        {
            "name": "Solution fit",
            "phase": "change",
            "probability": 35,
            "expected_days": 21,
            "guidance": "Show how the change works for them; agree what success looks like.",
            "criteria": [
                {
                    "kind": "activity_kind",
                    "label": "Solution demo held",
                    "importance": "mandatory",
                    "activity_kind": "meeting",
                },
                {
                    "kind": "step",
                    "label": "Agree success criteria with the champion",
                    "importance": "mandatory",
                },
                {
                    "kind": "field",
                    "label": "Competition known",
                    "importance": "optional",
                    "field_name": "competitors",
                },
            ],
        },
        {
            "name": "Business case",
            "phase": "decision",
            "probability": 50,
            "expected_days": 21,
            "guidance": "Build the case with the buyer: value, cost, risk, and who signs.",
            "criteria": [
                {
                    "kind": "field",
                    "label": "Budget confirmed",
                    "importance": "mandatory",
                    "field_name": "budget",
                },
                {
                    "kind": "answer",
                    "label": "Expected return",
                    "importance": "mandatory",
                    "question": "What return does the buyer expect, and by when?",
                },
                # Added in version 2 (see NEW_BUSINESS_V2_NOTE): deals without the economic buyer
                # were being lost in negotiation.
                {
                    "kind": "stakeholder_role",
                    "label": "Economic buyer engaged",
                    "importance": "critical",
                    "role": "economic_buyer",
                },
            ],
        },
        {
            "name": "Proposal",
            "phase": "decision",
            "probability": 65,
            "expected_days": 14,
            "guidance": "A proposal the economic buyer has seen before it is sent.",
            "criteria": [
                {"kind": "field", "label": "Amount set", "importance": "critical", "field_name": "amount"},
                {
                    "kind": "field",
                    "label": "Close date set",
                    "importance": "mandatory",
                    "field_name": "expected_close",
                },
                {"kind": "step", "label": "Send the proposal", "importance": "mandatory"},
                {
                    "kind": "activity_kind",
                    "label": "Proposal sent by email",
                    "importance": "optional",
                    "activity_kind": "email",
                },
            ],
        },
        {
            "name": "Negotiation",
            "phase": "decision",
            "probability": 80,
            "expected_days": 21,
            "guidance": "Procurement, legal and terms. Trade, never give.",
            "criteria": [
                {
                    "kind": "stakeholder_role",
                    "label": "Procurement involved",
                    "importance": "mandatory",
                    "role": "procurement",
                },
                {
                    "kind": "field",
                    "label": "Objections logged",
                    "importance": "optional",
                    "field_name": "objections",
                },
                {
                    "kind": "answer",
                    "label": "Risks to signature",
                    "importance": "optional",
                    "question": "What could still stop the signature?",
                },
            ],
        },
        {
            "name": "Commit and success plan",
            "phase": "value",
            "probability": 90,
            "expected_days": 10,
            "guidance": "Agree with each stakeholder how value will be measured; hand over to onboarding.",
            "criteria": [
                {
                    "kind": "step",
                    "label": "Agree the success plan with each stakeholder",
                    "importance": "critical",
                },
                {
                    "kind": "answer",
                    "label": "Value measure",
                    "importance": "mandatory",
                    "question": "How will the customer measure value after 90 days?",
                },
                {
                    "kind": "activity_kind",
                    "label": "Handoff meeting with onboarding",
                    "importance": "mandatory",
                    "activity_kind": "meeting",
                },
                {
                    "kind": "stakeholder_role",
                    "label": "End-user lead named",
                    "importance": "optional",
                    "role": "user",
                },
            ],
        },
    ],
}
NEW_BUSINESS_V2_NOTE = "Business case: require the economic buyer (deals without one stalled in negotiation)"
NEW_BUSINESS_V2_CRITERION = "Economic buyer engaged"
# Version 1 is the same process without that criterion.
NEW_BUSINESS_V1 = {
    **NEW_BUSINESS,
    "stages": [
        {**s, "criteria": [c for c in s["criteria"] if c["label"] != NEW_BUSINESS_V2_CRITERION]}
        for s in NEW_BUSINESS["stages"]
    ],
}

# Expansion starts where a won deal's value phase leaves off: confirm the value, then a new change.
EXPANSION = {
    "name": "Expansion",
    "description": "More seats, products or departments for an existing customer.",
    "stages": [
        {
            "name": "Value review",
            "phase": "value",
            "probability": 25,
            "expected_days": 14,
            "guidance": "Did they get what they wanted? Confirm it with each stakeholder.",
            "criteria": [
                {
                    "kind": "answer",
                    "label": "Value confirmed",
                    "importance": "mandatory",
                    "question": "What value did the customer confirm from the last deal?",
                },
                {
                    "kind": "activity_kind",
                    "label": "Value review meeting held",
                    "importance": "mandatory",
                    "activity_kind": "meeting",
                },
            ],
        },
        {
            "name": "Expansion case",
            "phase": "change",
            "probability": 45,
            "expected_days": 21,
            "guidance": "Where else would the same change pay off?",
            "criteria": [
                {
                    "kind": "stakeholder_role",
                    "label": "Champion identified",
                    "importance": "mandatory",
                    "role": "champion",
                },
                {"kind": "step", "label": "Size the expansion with the champion", "importance": "optional"},
            ],
        },
        {
            "name": "Proposal",
            "phase": "decision",
            "probability": 65,
            "expected_days": 14,
            "criteria": [
                {"kind": "field", "label": "Amount set", "importance": "critical", "field_name": "amount"},
                {
                    "kind": "activity_kind",
                    "label": "Proposal sent by email",
                    "importance": "optional",
                    "activity_kind": "email",
                },
            ],
        },
        {
            "name": "Negotiation",
            "phase": "decision",
            "probability": 85,
            "expected_days": 14,
            "criteria": [
                {
                    "kind": "field",
                    "label": "Close date set",
                    "importance": "mandatory",
                    "field_name": "expected_close",
                },
                {
                    "kind": "stakeholder_role",
                    "label": "Procurement involved",
                    "importance": "optional",
                    "role": "procurement",
                },
            ],
        },
    ],
}

# How each process's deals behave: the share of deals, the chance to be lost at each stage (before the
# rep's factor), the typical amount, and what the deals are called.
PROCESS_BEHAVIOUR = {
    "New business": {
        "share": 0.72,
        "lose": [0.22, 0.18, 0.15, 0.14, 0.12, 0.14, 0.05],
        "amount": 42000,
        "topics": [
            "Platform rollout",
            "Team licences",
            "Analytics suite",
            "Workflow automation",
            "Pilot",
            "Enterprise agreement",
            "Regional rollout",
            "Data migration",
        ],
    },
    "Expansion": {
        "share": 0.28,
        "lose": [0.1, 0.12, 0.1, 0.06],
        "amount": 16000,
        "topics": ["More seats", "Analytics add-on", "New department", "Renewal and upsell", "Second site"],
    },
}

INDUSTRIES = [
    "Manufacturing",
    "Software",
    "Financial services",
    "Healthcare",
    "Retail",
    "Logistics",
    "Energy",
    "Education",
    "Public sector",
    "Telecommunications",
    "Professional services",
    "Media",
]
NAME_FIRST = [
    "Acme", "Apex", "Arbor", "Atlas", "Beacon", "Birch", "Blue", "Bright", "Cedar", "Clear",
    "Cobalt", "Coral", "Crest", "Delta", "Summit", "Ember", "Evergreen", "Falcon", "Fern", "Granite",
    "Harbor", "Helix", "Horizon", "Iron", "Juniper", "Keystone", "Lake", "Linden", "Lumen", "Maple",
    "Meridian", "Nimbus", "North", "Oak", "Orbit", "Pine", "Polar", "Prism", "Quarry", "Red",
    "Ridge", "River", "Sage", "Silver", "Solar", "Spruce", "Stone", "Terra", "Vertex", "West",
]  # fmt: skip
NAME_SECOND = [
    "Analytics", "Biotech", "Brands", "Capital", "Care", "Chemicals", "Dynamics", "Energy", "Foods", "Freight",
    "Health", "Industries", "Insurance", "Labs", "Logistics", "Machines", "Media", "Metals", "Motors", "Networks",
    "Partners", "Pharma", "Power", "Retail", "Robotics", "Systems", "Telecom", "Textiles", "Works", "Ventures",
]  # fmt: skip
NAME_SUFFIX = ["Inc", "GmbH", "Ltd", "Group", "AG", "SA", "LLC", "BV", "AB", "Oy"]

FIRST_NAMES = [
    "Aisha", "Ben", "Carla", "Dev", "Elena", "Felix", "Grace", "Hugo", "Ines", "Jonas",
    "Kara", "Luis", "Maya", "Nils", "Olga", "Pavel", "Quinn", "Rosa", "Sven", "Tara",
    "Umar", "Vera", "Wen", "Ximena", "Yusuf", "Zoe", "Anton", "Bea", "Chen", "Dana",
]  # fmt: skip
LAST_NAMES = [
    "Adams", "Berg", "Costa", "Dubois", "Eriksen", "Fontaine", "Garcia", "Hansen", "Ito", "Jensen",
    "Kowalski", "Larsen", "Moreau", "Nakamura", "Olsen", "Petrov", "Quist", "Rossi", "Schmidt", "Tanaka",
    "Ueda", "Vargas", "Weber", "Xu", "Yilmaz", "Zimmer", "Ahmed", "Brown", "Chopra", "Diaz",
]  # fmt: skip

# A contact's title and the role they usually take on a deal.
CONTACT_TITLES = [
    ("Chief Financial Officer", "economic_buyer"),
    ("VP Operations", "champion"),
    ("Head of IT", "influencer"),
    ("Procurement Manager", "procurement"),
    ("Team Lead", "user"),
    ("Chief Executive Officer", "decision_maker"),
    ("IT Security Officer", "blocker"),
    ("Operations Manager", "champion"),
]

ROLE_PROFILE = {
    # role: (influence range, attitudes to draw from, desired results, wins)
    "economic_buyer": ((4, 5), ["supporter", "neutral", "skeptic"], "A payback under 18 months", "A budget line that shows results"),
    "champion": ((3, 4), ["advocate", "advocate", "supporter"], "Fewer manual hand-offs in the team", "Recognition for leading the change"),
    "decision_maker": ((4, 5), ["supporter", "neutral"], "A lower cost per order", "A story for the board"),
    "influencer": ((2, 4), ["supporter", "neutral", "skeptic"], "One system instead of three", "Less time on integrations"),
    "user": ((1, 3), ["supporter", "neutral"], "Less admin work every week", "Evenings back"),
    "procurement": ((2, 4), ["neutral", "skeptic"], "Standard terms and a fair price", "A clean vendor file"),
    "blocker": ((2, 4), ["skeptic", "opponent"], "No new security risk", "Not being blamed for an incident"),
}  # fmt: skip

ACTIVITY_SUBJECTS = {
    "call": ["Intro call", "Follow-up call", "Pricing call", "Check-in call", "Reference call"],
    "meeting": ["Discovery workshop", "Solution demo", "Business case review", "Onsite visit", "Executive briefing"],
    "email": ["Sent meeting recap", "Shared a case study", "Sent the pricing overview", "Answered open questions"],
    "note": ["Budget cycle starts in Q3", "Competitor is in the deal", "Champion is changing roles", "Legal review needed"],
}  # fmt: skip
ACTIVITY_KIND_WEIGHTS = [("email", 35), ("call", 30), ("meeting", 20), ("note", 15)]

COMPETITORS = ["Northbeam", "Quantive", "Vendora", "Stackwise", "In-house build"]
OBJECTIONS = [
    "Price too high",
    "Security review",
    "Integration effort",
    "Timing",
    "Switching cost",
    "Needs references",
]
LEAD_SOURCES = [("Inbound", 35), ("Outbound", 25), ("Partner", 15), ("Event", 12), ("Referral", 13)]
LOST_REASONS = [
    "No budget this year",
    "No decision: stayed with the status quo",
    "Project postponed",
    "Price",
    "Lost the champion",
    "Chose a competitor",
]
ANSWERS = {
    "What happens if the customer does nothing this year?": [
        "Order errors keep costing about 2% of revenue.",
        "They need two more hires to keep up with volume.",
        "The audit finding stays open and the regulator follows up.",
    ],
    "What return does the buyer expect, and by when?": [
        "Break-even within 12 months from fewer manual hours.",
        "A 15% cut in handling cost by the end of the fiscal year.",
        "Payback in 18 months, measured on error rates.",
    ],
    "What could still stop the signature?": [
        "A budget freeze at group level.",
        "Legal wants changes to the liability clause.",
        "Nothing known; procurement has signed off.",
    ],
    "How will the customer measure value after 90 days?": [
        "Hours spent on manual reconciliation per week.",
        "Order error rate, reviewed monthly with the champion.",
        "Time from request to approval.",
    ],
    "What value did the customer confirm from the last deal?": [
        "Error rate down by a third since go-live.",
        "The team closed month-end two days faster.",
        "Adoption above 80% of licensed users.",
    ],
}
CUSTOM_STEPS = [
    "Book the executive sponsor meeting",
    "Send a reference customer contact",
    "Prepare the security questionnaire",
    "Review the mutual action plan with the champion",
    "Align on the rollout timeline",
]
DEAL_DESCRIPTIONS = [
    "Replaces a spreadsheet process across two teams.",
    "Started from a webinar sign-up; the champion ran a trial.",
    "Part of a wider modernisation programme.",
    "",
    "",
    "",
]

# The demo's playbooks: what a team learned about its competitors, objections and buyers. Plays are
# matched against the open deals when the demo is seeded; `process` None = every process.
DEMO_PLAYBOOKS = [
    {
        "name": "Competitive deals",
        "description": "What works against the competitors we meet most.",
        "process": None,
        "plays": [
            {
                "name": "Against Northbeam",
                "priority": 20,
                "condition": {"all": [{"field": "competitors", "op": "contains", "value": "Northbeam"}]},
                "talk_track": (
                    "Northbeam wins on list price and loses on **total cost**.\n\n"
                    "- Ask what their last Northbeam rollout cost in services\n"
                    "- Show the three-year cost comparison, not the licence line\n"
                    "- Offer a reference customer who switched"
                ),
                "questions": [
                    "When does their Northbeam contract renew?",
                    "Who chose Northbeam last time, and why?",
                ],
                "resources": [("Northbeam battle card", "https://wiki.demo.test/battle-cards/northbeam")],
                "steps": [
                    "Send the three-year cost comparison",
                    "Set up a call with a customer who switched",
                ],
            },
            {
                "name": "Against an in-house build",
                "priority": 10,
                "condition": {"all": [{"field": "competitors", "op": "contains", "value": "In-house build"}]},
                "talk_track": "The in-house team is the competitor: make their **maintenance cost** visible.",
                "questions": ["How many people maintain the current tool?"],
                "resources": [],
                "steps": ["Estimate the yearly maintenance cost with their IT lead"],
            },
        ],
    },
    {
        "name": "New business buyers",
        "description": "Buyer situations in new business deals.",
        "process": "New business",
        "plays": [
            {
                "name": "Procurement-led buyer",
                "priority": 15,
                "condition": {
                    "all": [
                        {"field": "stakeholder_roles", "op": "contains", "value": "procurement"},
                        {"field": "phase", "op": "eq", "value": "decision"},
                    ]
                },
                "talk_track": "Procurement joined in the decision phase: agree the **process** before the price.",
                "questions": ["What are the steps and dates of their procurement process?"],
                "resources": [],
                "steps": ["Get the procurement steps and timeline in writing"],
                "target_stage": "Negotiation",
            },
            {
                "name": "Price objection",
                "priority": 10,
                "condition": {"all": [{"field": "objections", "op": "contains", "value": "Price too high"}]},
                "talk_track": "Go back to the **business case**: price is high compared to what?",
                "questions": ["Which number in the business case do they doubt?"],
                "resources": [("Pricing guidelines", "https://wiki.demo.test/pricing")],
                "steps": ["Review the business case numbers with the economic buyer"],
                "target_stage": "Proposal",
            },
            {
                "name": "Healthcare security review",
                "priority": 5,
                "condition": {"all": [{"field": "industry", "op": "eq", "value": "Healthcare"}]},
                "talk_track": "Healthcare buyers run a security review: start it **early**.",
                "questions": ["Who owns the security review, and how long does it take?"],
                "resources": [],
                "steps": ["Send the security questionnaire pack"],
            },
        ],
    },
]
