// English and German texts and number/date formatting (Intl, in the chosen language).

const LANG_KEY = "chargebus.lang";

const en = {
  skip: "Skip to content",
  close: "Close",
  cancel: "Cancel",
  save: "Save",
  delete: "Delete",
  loading: "Loading…",
  "error.network": "The gateway cannot be reached. Check the connection and try again.",
  "error.login": "This setting needs the admin login.",
  "nav.label": "Main",
  "nav.home": "Overview",
  "nav.prices": "Prices",
  "nav.sessions": "Sessions",
  "nav.settings": "Settings",
  "conn.live": "Live",
  "conn.connecting": "Connecting…",
  "conn.reconnecting": "Reconnecting…",
  "conn.offline": "Offline",
  "conn.offlineRetry": "Offline · retry in {s} s",
  "conn.banner": "No live connection to chargebus — the values shown may be out of date.",
  "conn.retryNow": "Reconnect now",
  "conn.waiting": "Waiting for the first values from chargebus…",
  "mode.off": "Off",
  "mode.pv": "Solar",
  "mode.minpv": "Min+Solar",
  "mode.now": "Fast",
  "flow.title": "Energy flow",
  "flow.pv": "Solar",
  "flow.grid": "Grid",
  "flow.battery": "Battery",
  "flow.home": "House",
  "flow.producing": "producing",
  "flow.import": "import",
  "flow.export": "export",
  "flow.gridImport": "Grid import",
  "flow.gridExport": "Grid export",
  "flow.charging": "charging",
  "flow.discharging": "discharging",
  "flow.idle": "idle",
  "summary.selfConsumption": "Self-consumption",
  "summary.selfConsumptionHint": "of the solar power used at home",
  "summary.selfSufficiency": "Self-sufficiency",
  "summary.selfSufficiencyHint": "of the consumption from sun and battery",
  "summary.greenShare": "Green share",
  "summary.greenShareHint": "of the house's power now",
  "summary.price": "Effective price now",
  "summary.gridPrice": "grid {price}",
  "summary.co2": "CO₂ now",
  "summary.gridCo2": "grid {co2}",
  "summary.noCo2": "no CO₂ source configured",
  "loadpoint.fallback": "Loadpoint {id}",
  "loadpoint.none": "No loadpoints configured.",
  "loadpoint.mode": "Charging mode",
  "loadpoint.limitSoc": "Charge limit",
  "loadpoint.limitEnergy": "Energy limit",
  "loadpoint.noLimit": "none",
  "loadpoint.minSoc": "Minimum charge",
  "loadpoint.minSocHint": "Below this the car charges fast, also from the grid, in every mode but Off.",
  "loadpoint.off": "off",
  "loadpoint.settings": "Settings",
  "loadpoint.minCurrent": "Min. current",
  "loadpoint.maxCurrent": "Max. current",
  "loadpoint.batteryBoost": "Battery boost",
  "loadpoint.batteryBoostHint": "Also use the home battery for this charge (Solar and Min+Solar).",
  "loadpoint.boostLimit": "Battery boost down to",
  "loadpoint.boostOff": "off",
  "loadpoint.enableThreshold": "Start threshold",
  "loadpoint.enableThresholdHint": "Surplus needed to start (negative = export).",
  "loadpoint.enableDelay": "Start delay",
  "loadpoint.disableThreshold": "Stop threshold",
  "loadpoint.disableThresholdHint": "Grid import tolerated before pausing.",
  "loadpoint.disableDelay": "Stop delay",
  "loadpoint.priority": "Priority",
  "loadpoint.priorityHint": "A higher priority gets the surplus first.",
  "phases.label": "Phases",
  "phases.auto": "Automatic",
  "phases.one": "1 phase",
  "phases.three": "3 phases",
  "vehicle.label": "Vehicle",
  "vehicle.guest": "Guest vehicle",
  "vehicle.none": "No vehicle",
  "vehicle.soc": "Vehicle charge",
  "status.fault": "Charger problem",
  "status.disconnected": "Disconnected",
  "status.connected": "Connected",
  "status.charging": "Charging…",
  "status.finished": "Finished",
  "status.waitForVehicle": "Ready, waiting for the vehicle…",
  "status.waitForAuthorization": "Connected, waiting for authorization…",
  "why.chargerError": "Charger offline or faulty: {error}",
  "why.disconnectRequired": "Session ended — please unplug and reconnect the car.",
  "why.awaitingAuthorization": "Waiting for authorization (RFID card or app).",
  "why.detection": "Identifying the vehicle…",
  "why.dimmed": "Power reduced by the grid operator.",
  "why.disconnected": "Plug in a vehicle to charge.",
  "why.planWaitForVehicle": "Plan ready: {goal} by {time} — waiting for the vehicle.",
  "why.off": "Charging is switched off.",
  "why.minSoc": "Charging fast to the minimum of {soc}.",
  "why.planActive": "Plan: {goal} by {time} — charging now.",
  "why.planActiveUntil": "Plan: {goal} by {time} — charging now, done about {end}.",
  "why.planStarts": "Plan: {goal} by {time} — starts {start}.",
  "why.plan": "Plan: {goal} by {time}.",
  "why.planOverrun": "The goal will be reached {overrun} late.",
  "why.smartCostCheap": "Cheap grid price {now} below the limit of {limit}.",
  "why.smartCostClean": "Clean grid power {now} below the limit of {limit}.",
  "why.smartCostNext": "Price limit {limit}: cheap energy from {start}.",
  "why.smartCostSet": "Charges from the grid when the price is at most {limit}.",
  "why.feedInPriority": "Solar charging paused: feeding in pays more now.",
  "why.batteryBoost": "Battery boost: the home battery helps charging.",
  "why.pvEnable": "Waiting for surplus — starts in {in}.",
  "why.pvDisable": "Not enough surplus — pausing in {in}.",
  "why.scale1p": "Switching to 1 phase in {in}.",
  "why.scale3p": "Switching to 3 phases in {in}.",
  "why.limitSocReached": "Charge limit of {soc} reached.",
  "why.vehicleLimitReached": "The vehicle's own limit of {soc} is reached.",
  "why.limitEnergyReached": "Energy limit of {energy} reached.",
  "why.nowCharging": "Fast: charging at full power.",
  "why.nowReady": "Fast: full power as soon as the vehicle takes it.",
  "why.minpv": "Min+Solar: minimum current always, more with solar surplus.",
  "why.pvCharging": "Charging from solar surplus.",
  "why.pvWaiting": "Waiting for solar surplus.",
  "session.power": "Power",
  "session.energy": "Charged",
  "session.duration": "Duration",
  "session.solar": "Solar",
  "session.price": "Cost",
  "session.co2": "CO₂",
  "session.remaining": "Remaining",
  "plan.label": "Plan",
  "plan.none": "none",
  "plan.edit": "Plan…",
  "plan.title": "Charging plan · {title}",
  "plan.summary": "{goal} by {time}",
  "plan.repeatingShort": "repeating",
  "plan.oneOff": "One-off",
  "plan.repeating": "Repeating",
  "plan.current": "Current plan",
  "plan.goal": "Goal",
  "plan.goalSoc": "Vehicle charge (%)",
  "plan.goalEnergy": "Energy (kWh)",
  "plan.soc": "Charge to",
  "plan.energy": "Energy",
  "plan.time": "Ready by",
  "plan.preview": "Preview",
  "plan.save": "Save plan",
  "plan.update": "Update plan",
  "plan.remove": "Remove",
  "plan.facts": "Charging time {duration}, from {start} to {end}, average {price}.",
  "plan.noSlots": "No charging slots are known yet for this goal.",
  "plan.goalReached": "The goal is already reached.",
  "plan.invalidTime": "Pick a valid time.",
  "plan.inThePast": "Pick a time in the future.",
  "plan.onlyInPv": "Plans are followed in the Solar and Min+Solar modes.",
  "plan.strategy": "Plan strategy",
  "plan.continuous": "Charge in one go",
  "plan.continuousHint": "One continuous block instead of the cheapest single slots.",
  "plan.precondition": "Late charging before the target",
  "plan.noPrecondition": "none",
  "plan.noRepeating": "No repeating plans yet.",
  "plan.repeatingN": "Plan {n}",
  "plan.weekdays": "Weekdays",
  "plan.active": "Active",
  "plan.addRepeating": "Add repeating plan",
  "plan.saveRepeating": "Save repeating plans",
  "plan.pickWeekday": "Pick at least one weekday.",
  "chart.price": "Grid price",
  "chart.feedin": "Feed-in",
  "chart.co2": "CO₂",
  "chart.solar": "Solar forecast",
  "chart.planned": "planned charging",
  "chart.preview": "preview",
  "chart.limit": "Price limit",
  "chart.noData": "No price forecast available.",
  "chart.describe": "Grid price from {from} to {to}: {min} to {max}, cheapest at {cheapest}.",
  "prices.title": "Prices and forecast",
  "prices.now": "Now",
  "prices.min": "Lowest",
  "prices.avg": "Average",
  "prices.max": "Highest",
  "prices.feedin": "Feed-in",
  "prices.co2": "CO₂ now",
  "prices.none": "No dynamic tariff is configured: there is nothing to forecast.",
  "prices.plannedHint": "Highlighted slots are planned charging.",
  "prices.cheapTitle": "Cheap grid charging",
  "prices.cleanTitle": "Clean grid charging",
  "prices.cheapHint": "Charge from the grid whenever the price is at or below this limit — in every mode but Off.",
  "prices.cleanHint": "Charge from the grid whenever the CO₂ intensity is at or below this limit.",
  "prices.appliesTo": "Applies to",
  "prices.allLoadpoints": "All loadpoints",
  "prices.limit": "Limit",
  "prices.limitExact": "Exact limit",
  "prices.noLimit": "no limit",
  "prices.mixed": "different per loadpoint",
  "prices.removeLimit": "Remove limit",
  "prices.setLimit": "Set limit to {limit}",
  "prices.clickHint": "Tip: click a bar in the chart to take its price as the limit.",
  "sessions.title": "Charging sessions",
  "sessions.reload": "Reload",
  "sessions.month": "Month",
  "sessions.allMonths": "All months",
  "sessions.vehicle": "Vehicle",
  "sessions.allVehicles": "All vehicles",
  "sessions.loadpoint": "Loadpoint",
  "sessions.allLoadpoints": "All loadpoints",
  "sessions.count": "Sessions",
  "sessions.energy": "Energy",
  "sessions.cost": "Cost",
  "sessions.perKWh": "{price} on average",
  "sessions.solar": "Solar",
  "sessions.co2": "CO₂",
  "sessions.duration": "Duration",
  "sessions.start": "Started",
  "sessions.actions": "Actions",
  "sessions.open": "open",
  "sessions.download": "Download",
  "sessions.csvScope": "(the file holds every session of the chosen month)",
  "sessions.none": "No sessions for this selection.",
  "sessions.editVehicle": "Vehicle…",
  "sessions.editVehicleOf": "Change the vehicle of the session from {date}",
  "sessions.deleteOf": "Delete the session from {date}",
  "sessions.editTitle": "Change the vehicle",
  "sessions.deleteTitle": "Delete session",
  "sessions.deleteConfirm": "Delete the session from {date} ({energy})? This cannot be undone.",
  "battery.title": "Home battery",
  "battery.now": "{soc}, {state} {power}",
  "battery.mode": "Mode",
  "battery.modes.normal": "normal",
  "battery.modes.hold": "discharge locked",
  "battery.modes.charge": "charging from grid",
  "battery.modes.holdcharge": "charge locked",
  "battery.prioritySoc": "House first below",
  "battery.prioritySocHint": "Below this charge the battery gets the solar surplus before the car.",
  "battery.bufferSoc": "Battery supports solar charging above",
  "battery.bufferSocHint": "Above this charge the battery may fill gaps while the car charges from the sun.",
  "battery.bufferStartSoc": "Battery may start solar charging above",
  "battery.bufferStartSocHint": "Above this charge a solar charge may start with the battery's help.",
  "battery.dischargeControl": "Keep the battery for the house while charging fast",
  "battery.dischargeControlHint": "Locks discharging while a car charges in Fast mode or by plan.",
  "battery.gridChargeLimit": "Charge the battery from the grid up to the price",
  "battery.gridChargeLimitCo2": "Charge the battery from the grid up to the CO₂ intensity",
  "battery.gridChargeLimitHint": "Empty = never from the grid.",
  "battery.gridChargeOff": "Never from the grid",
  "site.title": "Site",
  "site.residualPower": "Residual power",
  "site.residualPowerHint": "Grid power to aim at: positive keeps a little import, negative a little export.",
  "site.gridExportLimit": "Grid export limit",
  "site.gridExportLimitHint": "The most the site may feed into the grid (0 = no limit); surplus above it goes to the cars first.",
  "site.batteryGridDischarge": "Battery may discharge into the grid",
  "site.batteryGridDischargeHint": "Allows selling stored energy when feeding in pays.",
  "site.feedInPriority": "Feed in instead of solar charging above",
  "site.feedInPriorityHint": "While the feed-in rate is at least this, solar charging pauses (all loadpoints).",
  "site.solarAdjusted": "Adjust the solar forecast to today's production",
  "site.solarAdjustedHint": "Scales the forecast by what the PV actually produced today so far.",
  "site.remove": "Remove",
  "admin.title": "Admin",
  "admin.loggedIn": "You are logged in as admin.",
  "admin.loggedOut": "Not logged in. Protected settings ask for the admin password.",
  "admin.noPassword": "No admin password is set yet.",
  "admin.login": "Log in",
  "admin.logout": "Log out",
  "login.title": "Admin login",
  "login.hint": "This setting is protected. Enter the admin password.",
  "login.password": "Password",
  "login.submit": "Log in",
  "login.setTitle": "Set the admin password",
  "login.setHint": "Choose the admin password that protects the settings.",
  "login.newPassword": "New password",
  "login.repeat": "Repeat the password",
  "login.set": "Set password",
  "login.mismatch": "The passwords differ.",
  "prefs.title": "This browser",
  "prefs.language": "Language",
  "prefs.theme": "Appearance",
  "prefs.auto": "Automatic",
  "prefs.light": "Light",
  "prefs.dark": "Dark",
  "prefs.apiDocs": "API documentation",
};

const de = {
  skip: "Zum Inhalt springen",
  close: "Schließen",
  cancel: "Abbrechen",
  save: "Speichern",
  delete: "Löschen",
  loading: "Lädt…",
  "error.network": "Das Gateway ist nicht erreichbar. Verbindung prüfen und erneut versuchen.",
  "error.login": "Diese Einstellung braucht die Admin-Anmeldung.",
  "nav.label": "Hauptmenü",
  "nav.home": "Übersicht",
  "nav.prices": "Preise",
  "nav.sessions": "Ladevorgänge",
  "nav.settings": "Einstellungen",
  "conn.live": "Live",
  "conn.connecting": "Verbinde…",
  "conn.reconnecting": "Verbinde neu…",
  "conn.offline": "Offline",
  "conn.offlineRetry": "Offline · neuer Versuch in {s} s",
  "conn.banner": "Keine Live-Verbindung zu chargebus — die angezeigten Werte können veraltet sein.",
  "conn.retryNow": "Jetzt verbinden",
  "conn.waiting": "Warte auf die ersten Werte von chargebus…",
  "mode.off": "Aus",
  "mode.pv": "PV",
  "mode.minpv": "Min+PV",
  "mode.now": "Schnell",
  "flow.title": "Energiefluss",
  "flow.pv": "PV",
  "flow.grid": "Netz",
  "flow.battery": "Batterie",
  "flow.home": "Haus",
  "flow.producing": "Erzeugung",
  "flow.import": "Bezug",
  "flow.export": "Einspeisung",
  "flow.gridImport": "Netzbezug",
  "flow.gridExport": "Einspeisung",
  "flow.charging": "lädt",
  "flow.discharging": "entlädt",
  "flow.idle": "ruht",
  "summary.selfConsumption": "Eigenverbrauch",
  "summary.selfConsumptionHint": "des Solarstroms wird selbst genutzt",
  "summary.selfSufficiency": "Autarkie",
  "summary.selfSufficiencyHint": "des Verbrauchs aus Sonne und Batterie",
  "summary.greenShare": "Grünanteil",
  "summary.greenShareHint": "des Hausverbrauchs jetzt",
  "summary.price": "Effektiver Preis jetzt",
  "summary.gridPrice": "Netz {price}",
  "summary.co2": "CO₂ jetzt",
  "summary.gridCo2": "Netz {co2}",
  "summary.noCo2": "keine CO₂-Quelle konfiguriert",
  "loadpoint.fallback": "Ladepunkt {id}",
  "loadpoint.none": "Keine Ladepunkte konfiguriert.",
  "loadpoint.mode": "Lademodus",
  "loadpoint.limitSoc": "Ladelimit",
  "loadpoint.limitEnergy": "Energielimit",
  "loadpoint.noLimit": "keins",
  "loadpoint.minSoc": "Mindestladung",
  "loadpoint.minSocHint": "Darunter lädt das Auto in jedem Modus außer Aus schnell, auch aus dem Netz.",
  "loadpoint.off": "aus",
  "loadpoint.settings": "Einstellungen",
  "loadpoint.minCurrent": "Min. Strom",
  "loadpoint.maxCurrent": "Max. Strom",
  "loadpoint.batteryBoost": "Batterie-Boost",
  "loadpoint.batteryBoostHint": "Für diesen Ladevorgang auch die Hausbatterie nutzen (PV und Min+PV).",
  "loadpoint.boostLimit": "Batterie-Boost bis",
  "loadpoint.boostOff": "aus",
  "loadpoint.enableThreshold": "Einschaltschwelle",
  "loadpoint.enableThresholdHint": "Überschuss zum Starten (negativ = Einspeisung).",
  "loadpoint.enableDelay": "Einschaltverzögerung",
  "loadpoint.disableThreshold": "Abschaltschwelle",
  "loadpoint.disableThresholdHint": "Geduldeter Netzbezug vor dem Pausieren.",
  "loadpoint.disableDelay": "Abschaltverzögerung",
  "loadpoint.priority": "Priorität",
  "loadpoint.priorityHint": "Höhere Priorität bekommt den Überschuss zuerst.",
  "phases.label": "Phasen",
  "phases.auto": "Automatisch",
  "phases.one": "1-phasig",
  "phases.three": "3-phasig",
  "vehicle.label": "Fahrzeug",
  "vehicle.guest": "Gastfahrzeug",
  "vehicle.none": "Kein Fahrzeug",
  "vehicle.soc": "Fahrzeugladestand",
  "status.fault": "Problem mit der Wallbox",
  "status.disconnected": "Getrennt",
  "status.connected": "Verbunden",
  "status.charging": "Lädt…",
  "status.finished": "Fertig",
  "status.waitForVehicle": "Bereit, warte auf das Fahrzeug…",
  "status.waitForAuthorization": "Verbunden, warte auf Autorisierung…",
  "why.chargerError": "Wallbox offline oder gestört: {error}",
  "why.disconnectRequired": "Ladevorgang beendet — bitte Stecker ziehen und neu verbinden.",
  "why.awaitingAuthorization": "Warte auf Autorisierung (RFID-Karte oder App).",
  "why.detection": "Fahrzeug wird erkannt…",
  "why.dimmed": "Leistung vom Netzbetreiber reduziert.",
  "why.disconnected": "Zum Laden ein Fahrzeug anschließen.",
  "why.planWaitForVehicle": "Plan bereit: {goal} bis {time} — warte auf das Fahrzeug.",
  "why.off": "Laden ist ausgeschaltet.",
  "why.minSoc": "Lädt schnell bis zur Mindestladung von {soc}.",
  "why.planActive": "Plan: {goal} bis {time} — lädt jetzt.",
  "why.planActiveUntil": "Plan: {goal} bis {time} — lädt jetzt, fertig gegen {end}.",
  "why.planStarts": "Plan: {goal} bis {time} — startet {start}.",
  "why.plan": "Plan: {goal} bis {time}.",
  "why.planOverrun": "Das Ziel wird {overrun} später erreicht.",
  "why.smartCostCheap": "Günstiger Netzstrom {now} unter dem Limit von {limit}.",
  "why.smartCostClean": "Sauberer Netzstrom {now} unter dem Limit von {limit}.",
  "why.smartCostNext": "Preislimit {limit}: günstiger Strom ab {start}.",
  "why.smartCostSet": "Lädt aus dem Netz, wenn der Preis höchstens {limit} beträgt.",
  "why.feedInPriority": "PV-Laden pausiert: Einspeisen lohnt sich gerade mehr.",
  "why.batteryBoost": "Batterie-Boost: die Hausbatterie hilft beim Laden.",
  "why.pvEnable": "Warte auf Überschuss — Start in {in}.",
  "why.pvDisable": "Zu wenig Überschuss — Pause in {in}.",
  "why.scale1p": "Wechsel auf 1 Phase in {in}.",
  "why.scale3p": "Wechsel auf 3 Phasen in {in}.",
  "why.limitSocReached": "Ladelimit von {soc} erreicht.",
  "why.vehicleLimitReached": "Das fahrzeugeigene Limit von {soc} ist erreicht.",
  "why.limitEnergyReached": "Energielimit von {energy} erreicht.",
  "why.nowCharging": "Schnell: lädt mit voller Leistung.",
  "why.nowReady": "Schnell: volle Leistung, sobald das Fahrzeug lädt.",
  "why.minpv": "Min+PV: immer mit Mindeststrom, mehr bei PV-Überschuss.",
  "why.pvCharging": "Lädt mit PV-Überschuss.",
  "why.pvWaiting": "Warte auf PV-Überschuss.",
  "session.power": "Leistung",
  "session.energy": "Geladen",
  "session.duration": "Dauer",
  "session.solar": "Sonne",
  "session.price": "Kosten",
  "session.co2": "CO₂",
  "session.remaining": "Restzeit",
  "plan.label": "Plan",
  "plan.none": "keiner",
  "plan.edit": "Plan…",
  "plan.title": "Ladeplan · {title}",
  "plan.summary": "{goal} bis {time}",
  "plan.repeatingShort": "wiederkehrend",
  "plan.oneOff": "Einmalig",
  "plan.repeating": "Wiederkehrend",
  "plan.current": "Aktueller Plan",
  "plan.goal": "Ziel",
  "plan.goalSoc": "Fahrzeugladestand (%)",
  "plan.goalEnergy": "Energie (kWh)",
  "plan.soc": "Laden auf",
  "plan.energy": "Energie",
  "plan.time": "Fertig bis",
  "plan.preview": "Vorschau",
  "plan.save": "Plan speichern",
  "plan.update": "Plan ändern",
  "plan.remove": "Entfernen",
  "plan.facts": "Ladedauer {duration}, von {start} bis {end}, im Mittel {price}.",
  "plan.noSlots": "Für dieses Ziel sind noch keine Ladezeiten bekannt.",
  "plan.goalReached": "Das Ziel ist schon erreicht.",
  "plan.invalidTime": "Bitte eine gültige Zeit wählen.",
  "plan.inThePast": "Bitte eine Zeit in der Zukunft wählen.",
  "plan.onlyInPv": "Pläne werden in den Modi PV und Min+PV verfolgt.",
  "plan.strategy": "Planstrategie",
  "plan.continuous": "Am Stück laden",
  "plan.continuousHint": "Ein zusammenhängender Block statt der günstigsten Einzelzeiten.",
  "plan.precondition": "Spätes Laden vor dem Ziel",
  "plan.noPrecondition": "keins",
  "plan.noRepeating": "Noch keine wiederkehrenden Pläne.",
  "plan.repeatingN": "Plan {n}",
  "plan.weekdays": "Wochentage",
  "plan.active": "Aktiv",
  "plan.addRepeating": "Wiederkehrenden Plan hinzufügen",
  "plan.saveRepeating": "Wiederkehrende Pläne speichern",
  "plan.pickWeekday": "Mindestens einen Wochentag wählen.",
  "chart.price": "Netzpreis",
  "chart.feedin": "Einspeisung",
  "chart.co2": "CO₂",
  "chart.solar": "PV-Prognose",
  "chart.planned": "geplantes Laden",
  "chart.preview": "Vorschau",
  "chart.limit": "Preislimit",
  "chart.noData": "Keine Preisprognose verfügbar.",
  "chart.describe": "Netzpreis von {from} bis {to}: {min} bis {max}, am günstigsten um {cheapest}.",
  "prices.title": "Preise und Prognose",
  "prices.now": "Jetzt",
  "prices.min": "Niedrigster",
  "prices.avg": "Mittel",
  "prices.max": "Höchster",
  "prices.feedin": "Einspeisung",
  "prices.co2": "CO₂ jetzt",
  "prices.none": "Kein dynamischer Tarif konfiguriert: es gibt nichts vorherzusagen.",
  "prices.plannedHint": "Hervorgehobene Zeiten sind geplantes Laden.",
  "prices.cheapTitle": "Günstig aus dem Netz laden",
  "prices.cleanTitle": "Sauber aus dem Netz laden",
  "prices.cheapHint": "Aus dem Netz laden, sobald der Preis höchstens dieses Limit beträgt — in jedem Modus außer Aus.",
  "prices.cleanHint": "Aus dem Netz laden, sobald die CO₂-Intensität höchstens dieses Limit beträgt.",
  "prices.appliesTo": "Gilt für",
  "prices.allLoadpoints": "Alle Ladepunkte",
  "prices.limit": "Limit",
  "prices.limitExact": "Genaues Limit",
  "prices.noLimit": "kein Limit",
  "prices.mixed": "je Ladepunkt verschieden",
  "prices.removeLimit": "Limit entfernen",
  "prices.setLimit": "Limit auf {limit} setzen",
  "prices.clickHint": "Tipp: Ein Klick auf einen Balken übernimmt dessen Preis als Limit.",
  "sessions.title": "Ladevorgänge",
  "sessions.reload": "Neu laden",
  "sessions.month": "Monat",
  "sessions.allMonths": "Alle Monate",
  "sessions.vehicle": "Fahrzeug",
  "sessions.allVehicles": "Alle Fahrzeuge",
  "sessions.loadpoint": "Ladepunkt",
  "sessions.allLoadpoints": "Alle Ladepunkte",
  "sessions.count": "Ladevorgänge",
  "sessions.energy": "Energie",
  "sessions.cost": "Kosten",
  "sessions.perKWh": "im Mittel {price}",
  "sessions.solar": "Sonne",
  "sessions.co2": "CO₂",
  "sessions.duration": "Dauer",
  "sessions.start": "Beginn",
  "sessions.actions": "Aktionen",
  "sessions.open": "läuft",
  "sessions.download": "Herunterladen",
  "sessions.csvScope": "(die Datei enthält alle Ladevorgänge des gewählten Monats)",
  "sessions.none": "Keine Ladevorgänge für diese Auswahl.",
  "sessions.editVehicle": "Fahrzeug…",
  "sessions.editVehicleOf": "Fahrzeug des Ladevorgangs vom {date} ändern",
  "sessions.deleteOf": "Ladevorgang vom {date} löschen",
  "sessions.editTitle": "Fahrzeug ändern",
  "sessions.deleteTitle": "Ladevorgang löschen",
  "sessions.deleteConfirm": "Den Ladevorgang vom {date} ({energy}) löschen? Das lässt sich nicht rückgängig machen.",
  "battery.title": "Hausbatterie",
  "battery.now": "{soc}, {state} {power}",
  "battery.mode": "Modus",
  "battery.modes.normal": "normal",
  "battery.modes.hold": "Entladung gesperrt",
  "battery.modes.charge": "lädt aus dem Netz",
  "battery.modes.holdcharge": "Ladung gesperrt",
  "battery.prioritySoc": "Haus zuerst unter",
  "battery.prioritySocHint": "Unter diesem Ladestand bekommt die Batterie den Überschuss vor dem Auto.",
  "battery.bufferSoc": "Batterie unterstützt PV-Laden über",
  "battery.bufferSocHint": "Über diesem Ladestand darf die Batterie Lücken füllen, während das Auto mit Sonne lädt.",
  "battery.bufferStartSoc": "Batterie darf PV-Laden starten über",
  "battery.bufferStartSocHint": "Über diesem Ladestand darf ein PV-Ladevorgang mit Hilfe der Batterie starten.",
  "battery.dischargeControl": "Batterie beim Schnellladen fürs Haus behalten",
  "battery.dischargeControlHint": "Sperrt das Entladen, während ein Auto schnell oder nach Plan lädt.",
  "battery.gridChargeLimit": "Batterie aus dem Netz laden bis zum Preis",
  "battery.gridChargeLimitCo2": "Batterie aus dem Netz laden bis zur CO₂-Intensität",
  "battery.gridChargeLimitHint": "Leer = nie aus dem Netz.",
  "battery.gridChargeOff": "Nie aus dem Netz",
  "site.title": "Anlage",
  "site.residualPower": "Regelabstand",
  "site.residualPowerHint": "Angestrebte Netzleistung: positiv hält etwas Bezug, negativ etwas Einspeisung.",
  "site.gridExportLimit": "Einspeisegrenze",
  "site.gridExportLimitHint": "Höchstens so viel darf ins Netz (0 = keine Grenze); Überschuss darüber geht zuerst ins Auto.",
  "site.batteryGridDischarge": "Batterie darf ins Netz entladen",
  "site.batteryGridDischargeHint": "Erlaubt, gespeicherte Energie zu verkaufen, wenn Einspeisen lohnt.",
  "site.feedInPriority": "Einspeisen statt PV-Laden ab",
  "site.feedInPriorityHint": "Solange die Einspeisevergütung mindestens so hoch ist, pausiert das PV-Laden (alle Ladepunkte).",
  "site.solarAdjusted": "PV-Prognose an die heutige Erzeugung anpassen",
  "site.solarAdjustedHint": "Skaliert die Prognose mit dem, was die PV heute bisher wirklich erzeugt hat.",
  "site.remove": "Entfernen",
  "admin.title": "Admin",
  "admin.loggedIn": "Du bist als Admin angemeldet.",
  "admin.loggedOut": "Nicht angemeldet. Geschützte Einstellungen fragen nach dem Admin-Passwort.",
  "admin.noPassword": "Es ist noch kein Admin-Passwort gesetzt.",
  "admin.login": "Anmelden",
  "admin.logout": "Abmelden",
  "login.title": "Admin-Anmeldung",
  "login.hint": "Diese Einstellung ist geschützt. Bitte das Admin-Passwort eingeben.",
  "login.password": "Passwort",
  "login.submit": "Anmelden",
  "login.setTitle": "Admin-Passwort setzen",
  "login.setHint": "Wähle das Admin-Passwort, das die Einstellungen schützt.",
  "login.newPassword": "Neues Passwort",
  "login.repeat": "Passwort wiederholen",
  "login.set": "Passwort setzen",
  "login.mismatch": "Die Passwörter sind verschieden.",
  "prefs.title": "Dieser Browser",
  "prefs.language": "Sprache",
  "prefs.theme": "Darstellung",
  "prefs.auto": "Automatisch",
  "prefs.light": "Hell",
  "prefs.dark": "Dunkel",
  "prefs.apiDocs": "API-Dokumentation",
};

export const MESSAGES = { en, de };
const listeners = new Set();

function detect() {
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const base = String(tag).slice(0, 2).toLowerCase();
    if (base in MESSAGES) return base;
  }
  return "en";
}

let setting = (() => {
  try {
    return localStorage.getItem(LANG_KEY) || "auto";
  } catch {
    return "auto";
  }
})();
let lang = setting === "auto" || !(setting in MESSAGES) ? detect() : setting;

export const getLang = () => lang;
export const getLangSetting = () => setting;

export function setLang(value) {
  setting = value;
  localStorage.setItem(LANG_KEY, value);
  lang = value === "auto" || !(value in MESSAGES) ? detect() : value;
  cache.clear();
  for (const listener of listeners) listener(lang);
}

export function onLangChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function t(key, params = {}) {
  const text = MESSAGES[lang][key] ?? en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (params[name] ?? `{${name}}`));
}

const cache = new Map();
function nf(options) {
  const key = `${lang}|${JSON.stringify(options)}`;
  if (!cache.has(key)) cache.set(key, new Intl.NumberFormat(lang, options));
  return cache.get(key);
}
function df(options) {
  const key = `${lang}|d|${JSON.stringify(options)}`;
  if (!cache.has(key)) cache.set(key, new Intl.DateTimeFormat(lang, options));
  return cache.get(key);
}

const isNum = (v) => typeof v === "number" && Number.isFinite(v);
const sameDay = (a, b) => a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();

function currencySymbol(currency) {
  try {
    return nf({ style: "currency", currency, currencyDisplay: "narrowSymbol" }).formatToParts(0).find((p) => p.type === "currency")
      ?.value;
  } catch {
    return currency;
  }
}

export const fmt = {
  /** W → "850 W" / "4.2 kW" */
  power(w) {
    if (!isNum(w)) return "–";
    const abs = Math.abs(w);
    if (abs < 1000) return `${nf({ maximumFractionDigits: 0 }).format(w)} W`;
    const digits = abs < 10000 ? 1 : 0;
    return `${nf({ minimumFractionDigits: digits, maximumFractionDigits: digits }).format(w / 1000)} kW`;
  },
  /** kWh → "12.3 kWh" */
  energy(kwh) {
    if (!isNum(kwh)) return "–";
    if (Math.abs(kwh) < 1) return `${nf({ maximumFractionDigits: 0 }).format(kwh * 1000)} Wh`;
    return `${nf({ maximumFractionDigits: kwh < 100 ? 1 : 0 }).format(kwh)} kWh`;
  },
  percent(v) {
    return isNum(v) ? `${nf({ maximumFractionDigits: 0 }).format(v)} %` : "–";
  },
  km(v) {
    return isNum(v) ? `${nf({ maximumFractionDigits: 0 }).format(v)} km` : "–";
  },
  /** currency/kWh → "0.271 €/kWh" (EUR-like currencies in ct: "27.1 ct/kWh") */
  price(v, currency = "EUR") {
    if (!isNum(v)) return "–";
    if (currency === "EUR" || currency === "CHF") return `${nf({ maximumFractionDigits: 1 }).format(v * 100)} ${currency === "EUR" ? "ct" : "Rp."}/kWh`;
    return `${nf({ minimumFractionDigits: 2, maximumFractionDigits: 3 }).format(v)} ${currencySymbol(currency) || currency}/kWh`;
  },
  /** the same, short, for chart axes */
  priceShort(v, currency = "EUR") {
    if (!isNum(v)) return "";
    if (currency === "EUR" || currency === "CHF") return `${nf({ maximumFractionDigits: 1 }).format(v * 100)} ${currency === "EUR" ? "ct" : "Rp."}`;
    return nf({ maximumFractionDigits: 3 }).format(v);
  },
  money(v, currency = "EUR") {
    if (!isNum(v)) return "–";
    try {
      return nf({ style: "currency", currency, minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(v);
    } catch {
      return `${nf({ maximumFractionDigits: 2 }).format(v)} ${currency}`;
    }
  },
  co2(g) {
    return isNum(g) ? `${nf({ maximumFractionDigits: 0 }).format(g)} g/kWh` : "–";
  },
  /** s → "1 h 05 min" / "12 min" / "40 s" */
  duration(s) {
    if (!isNum(s)) return "–";
    const total = Math.max(0, Math.round(s));
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    if (h > 0) return `${h} h ${String(m).padStart(2, "0")} min`;
    if (m > 0) return `${m} min`;
    return `${total} s`;
  },
  /** s → "23 s" / "4:05 min" for a running countdown */
  countdown(s) {
    const total = Math.max(0, Math.round(s));
    if (total < 60) return `${total} s`;
    return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, "0")} min`;
  },
  time(date) {
    return df({ hour: "2-digit", minute: "2-digit" }).format(date);
  },
  /** "07:00" today, "tomorrow 07:00", else "Tue 07:00" within a week, else the date */
  dateTime(date, now = new Date()) {
    if (!(date instanceof Date) || Number.isNaN(date.getTime())) return "–";
    const time = fmt.time(date);
    if (sameDay(date, now)) return time;
    const tomorrow = new Date(now);
    tomorrow.setDate(now.getDate() + 1);
    if (sameDay(date, tomorrow)) return `${lang === "de" ? "morgen" : "tomorrow"} ${time}`;
    if (Math.abs(date - now) < 6 * 86400e3) return `${df({ weekday: "short" }).format(date)} ${time}`;
    return df({ day: "numeric", month: "short", year: date.getFullYear() !== now.getFullYear() ? "numeric" : undefined, hour: "2-digit", minute: "2-digit" }).format(date);
  },
  hourLabel(date) {
    return date.getHours() === 0 ? df({ weekday: "short" }).format(date) : df({ hour: "2-digit", minute: "2-digit" }).format(date);
  },
};

/** Short weekday names by evcc's numbers (0 = Sunday). */
export function weekdayNames() {
  const sunday = new Date(2024, 0, 7);
  return Array.from({ length: 7 }, (_, i) => df({ weekday: "short" }).format(new Date(sunday.getTime() + i * 86400e3)));
}
