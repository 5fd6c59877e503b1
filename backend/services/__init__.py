"""Business operations, Flask-free (DESIGN §4): one package per capability, a few single modules.

Packages import only those listed before them (checked by import-linter):

1. ``events``      the report event log and ``Actor`` — every change to a report is written here;
2. ``city``        settings, working calendar, routing, the city pack, units/categories, staff, access, API keys;
3. ``residents``   residents, identities, devices, followers, Firebase token checks;
   ``photos``      image intake, pixel pipeline, storage, safe fetching, linking to reports, public copies;
4. ``deadlines``   SLA clocks, KPIs, ranking, dashboard figures;
   ``notify``      notification planning, texts, deliveries, push, mail;
5. ``reports``     intake, lifecycle (transitions, workflow, actions, an ended unit's hand-over), codes, idempotency,
                   reading, staff page;
6. ``chat``        the channel-neutral dialogue;
   ``inbox``       the staff queue and saved views;
   ``open311``     the GeoReport v2 mapping;
   ``exports``     CSV/GeoJSON exports;
   ``retention``   Decree 13/2023 anonymisation.

Channels (``backend/api``, ``backend/web``, ``bots``, ``handlers``, ``backend/cli.py``) import package
roots only (``from backend.services.reports import submit``); a package's inner modules are its own.
"""
