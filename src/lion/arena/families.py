"""The arena's task families: built-in fact tables and the ways people ask about them.

A family is one task type (the capital of a country, the past tense of a verb, ...) in one
domain. Every fact has a tier, the arena's rarity knob: 1 is what everyone knows, 2 is less
common, 3 is the long tail. Answers are one or two words, because the arena's student is a tiny
model trained from scratch in minutes and must be able to learn them as lookups.

Questions are written as an optional opener + a core phrasing + an optional closer. The cores
carry the fact (`{x}` marks its key); the openers and closers are shared, lexically varied and
built from independent parts, so that two questions rarely look alike word for word.
That matters because the Lion novelty filter drops a new instruction whose ROUGE-L with any
pool instruction exceeds 0.7: with a single fixed sentence per family, nearly every generated
instruction would be a near duplicate of one already in the pool.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Fact:
    key: str
    answer: str
    tier: int


@dataclass(frozen=True)
class Family:
    """One task type: its questions (`cores`, with `{x}` for the key), its facts, its answers.

    `input_cores` ask about "the X below" and carry the key in the Alpaca `input` field.
    `answers` are the teacher's short phrasings, with `{a}` for the answer.
    """

    name: str
    domain: str
    cores: tuple[str, ...]
    input_cores: tuple[str, ...]
    answers: tuple[str, ...]
    facts: tuple[Fact, ...]
    key_pattern: str | None = None  # a regex for the keys where listing them all would be slow


def _facts(table: str) -> tuple[Fact, ...]:
    """Read a table of `key: answer` entries separated by `|`; `[N]` starts the facts of tier N."""
    facts = []
    for tier, entries in re.findall(r"\[(\d)\]([^\[]*)", table):
        for entry in entries.split("|"):
            key, answer = entry.split(":")
            facts.append(Fact(key.strip(), answer.strip(), int(tier)))
    return tuple(facts)


# --- openers and closers shared by every family -------------------------------------------
# A question's opener is an optional greeting plus an optional context sentence; its closer is
# an optional style request plus an optional sign-off. Four independent parts give thousands
# of distinct frames, far more than a pool of a few thousand questions can use up.

GREETINGS: tuple[str, ...] = (
    "Hi there!",
    "Hello!",
    "Hey!",
    "Good morning!",
    "Okay.",
    "Right then.",
    "Hmm.",
    "Morning!",
    "Hello again!",
    "Sorry to bother you.",
    "One more thing.",
    "Evening!",
)

CONTEXTS: tuple[str, ...] = (
    "Quick question for you:",
    "I'm revising for a quiz.",
    "Help me settle a debate.",
    "Here is one to test you:",
    "My teacher asked us this today.",
    "Something I always forget:",
    "Can you help me out?",
    "Let's check your general knowledge.",
    "I was just wondering.",
    "Settle this for my kids.",
    "Trivia night is tomorrow.",
    "Pop quiz time:",
    "This came up in homework.",
    "Out of pure curiosity,",
    "Brain teaser of the day:",
    "I need a fast answer.",
    "Still stuck on this one:",
    "My friend and I disagree.",
)

DOMAIN_CONTEXTS: dict[str, tuple[str, ...]] = {
    "geography": (
        "Quick geography question:",
        "Map lovers, here we go:",
        "Planning a trip abroad.",
    ),
    "language": ("English grammar check:", "Word puzzle for you:", "Writing an essay here."),
    "science": (
        "Chemistry class question:",
        "Science homework help needed:",
        "Physics revision time.",
    ),
    "nature": ("Wildlife quiz question:", "My kids love animals.", "Nature documentary question:"),
    "numbers": ("Maths lesson question:", "Numbers quiz time:", "Teaching my son to count."),
}

STYLES: tuple[str, ...] = (
    "Answer in one word.",
    "Keep it short.",
    "Just the answer, please.",
    "No explanation needed.",
    "A single word will do.",
    "Be brief about it.",
    "I'd appreciate a quick reply.",
    "Reply as concisely as possible.",
    "Don't overthink this one.",
    "Short answers only.",
    "Need it for class.",
    "Only the word, nothing more.",
    "One or two words, please.",
    "Skip the details.",
)

SIGNOFFS: tuple[str, ...] = (
    "Thanks!",
    "Cheers.",
    "Much appreciated.",
    "Thank you!",
    "Many thanks.",
    "Appreciate it!",
    "Thanks a lot.",
    "Cheers, mate.",
    "Thanks in advance.",
    "Ta very much.",
)


# --- geography ------------------------------------------------------------------------------

CAPITAL = Family(
    name="capital",
    domain="geography",
    cores=(
        "what is the capital of {x}?",
        "name the capital city of {x}.",
        "{x} has which city as its capital?",
        "which city is the capital of {x}?",
        "tell me the capital of {x}.",
        "in {x}, which city is the capital?",
    ),
    input_cores=(
        "give the capital city of the country below.",
        "what is the capital of this country?",
    ),
    answers=("{a}.", "It is {a}.", "The capital is {a}."),
    facts=_facts(
        """
        [1] France: Paris | Germany: Berlin | Italy: Rome | Spain: Madrid | Japan: Tokyo |
            China: Beijing | Russia: Moscow | Egypt: Cairo | Canada: Ottawa | Australia: Canberra |
            India: New Delhi | Brazil: Brasilia | Greece: Athens | Portugal: Lisbon |
            Ireland: Dublin | Norway: Oslo | Sweden: Stockholm | Argentina: Buenos Aires |
            Thailand: Bangkok | Kenya: Nairobi | Turkey: Ankara | Peru: Lima | Poland: Warsaw |
            Mexico: Mexico City
        [2] Austria: Vienna | Hungary: Budapest | Finland: Helsinki | Denmark: Copenhagen |
            Belgium: Brussels | Chile: Santiago | Colombia: Bogota | Cuba: Havana | Iran: Tehran |
            Iraq: Baghdad | Vietnam: Hanoi | Indonesia: Jakarta | South Korea: Seoul |
            Morocco: Rabat | Nigeria: Abuja | Switzerland: Bern | Czechia: Prague |
            Romania: Bucharest | Venezuela: Caracas | Saudi Arabia: Riyadh | Pakistan: Islamabad |
            New Zealand: Wellington | Syria: Damascus | Ukraine: Kyiv
        [3] Mongolia: Ulaanbaatar | Bhutan: Thimphu | Burkina Faso: Ouagadougou |
            Kazakhstan: Astana | Uruguay: Montevideo | Paraguay: Asuncion | Iceland: Reykjavik |
            Latvia: Riga | Lithuania: Vilnius | Estonia: Tallinn | Slovenia: Ljubljana |
            Croatia: Zagreb | Serbia: Belgrade | Nepal: Kathmandu | Laos: Vientiane |
            Ethiopia: Addis Ababa | Ghana: Accra | Senegal: Dakar | Madagascar: Antananarivo |
            Malawi: Lilongwe | Zambia: Lusaka | Namibia: Windhoek | Ecuador: Quito |
            Honduras: Tegucigalpa | Jamaica: Kingston | Fiji: Suva | Armenia: Yerevan |
            Azerbaijan: Baku | Kyrgyzstan: Bishkek | Uzbekistan: Tashkent
        """
    ),
)

CONTINENT = Family(
    name="continent",
    domain="geography",
    cores=(
        "which continent is {x} in?",
        "on what continent is {x} located?",
        "name the continent where {x} lies.",
        "{x} belongs to which continent?",
        "tell me which continent {x} is part of.",
    ),
    input_cores=("which continent is the following country in?",),
    answers=("{a}.", "It is in {a}.", "That is in {a}."),
    facts=_facts(
        """
        [1] France: Europe | Germany: Europe | Italy: Europe | Spain: Europe | Japan: Asia |
            China: Asia | India: Asia | Brazil: South America | Argentina: South America |
            Canada: North America | Mexico: North America | Egypt: Africa | Kenya: Africa |
            Nigeria: Africa | Thailand: Asia | Peru: South America | Sweden: Europe |
            Poland: Europe | Chile: South America | Vietnam: Asia
        [2] Austria: Europe | Finland: Europe | Colombia: South America | Iran: Asia |
            Morocco: Africa | Ghana: Africa | Cuba: North America | Ethiopia: Africa |
            Venezuela: South America | Pakistan: Asia | Hungary: Europe | Ecuador: South America |
            Guatemala: North America | Tunisia: Africa | Nepal: Asia
        [3] Bhutan: Asia | Burkina Faso: Africa | Laos: Asia | Paraguay: South America |
            Uruguay: South America | Malawi: Africa | Namibia: Africa | Latvia: Europe |
            Honduras: North America | Belize: North America | Guyana: South America |
            Suriname: South America | Mongolia: Asia | Eritrea: Africa | Moldova: Europe |
            Nicaragua: North America | Kyrgyzstan: Asia | Lesotho: Africa
        """
    ),
)

CURRENCY = Family(
    name="currency",
    domain="geography",
    cores=(
        "what is the currency of {x}?",
        "which currency is used in {x}?",
        "name the money people spend in {x}.",
        "{x} uses which currency?",
        "what currency would I need in {x}?",
    ),
    input_cores=("name the currency of the country below.",),
    answers=("{a}.", "The {a}.", "It is the {a}."),
    facts=_facts(
        """
        [1] Japan: yen | India: rupee | China: yuan | Russia: ruble | Mexico: peso | Brazil: real |
            South Africa: rand | Switzerland: franc | Germany: euro | France: euro | Italy: euro |
            Spain: euro | Canada: dollar | Australia: dollar | Britain: pound
        [2] Sweden: krona | Norway: krone | Denmark: krone | Poland: zloty | Turkey: lira |
            South Korea: won | Thailand: baht | Israel: shekel | Vietnam: dong | Indonesia: rupiah |
            Saudi Arabia: riyal | Nigeria: naira | Hungary: forint | Czechia: koruna |
            Malaysia: ringgit | Argentina: peso | Egypt: pound
        [3] Bangladesh: taka | Ukraine: hryvnia | Armenia: dram | Kazakhstan: tenge |
            Mongolia: tugrik | Laos: kip | Cambodia: riel | Ghana: cedi | Kenya: shilling |
            Botswana: pula | Zambia: kwacha | Angola: kwanza | Peru: sol | Guatemala: quetzal |
            Paraguay: guarani | Costa Rica: colon | Romania: leu | Bulgaria: lev | Albania: lek |
            Bhutan: ngultrum | Myanmar: kyat | Azerbaijan: manat | Iran: rial
        """
    ),
)

# --- language -------------------------------------------------------------------------------

ANTONYM = Family(
    name="antonym",
    domain="language",
    cores=(
        "what is the opposite of {x}?",
        "give the antonym of {x}.",
        "what word means the opposite of {x}?",
        "name the opposite of the word {x}.",
        "what is the antonym of {x}?",
        "which word is the reverse of {x}?",
    ),
    input_cores=("write the opposite of the word below.",),
    answers=("{a}.", "It is {a}.", "The opposite is {a}."),
    facts=_facts(
        """
        [1] hot: cold | big: small | up: down | happy: sad | fast: slow | day: night | good: bad |
            rich: poor | full: empty | early: late | wet: dry | high: low | strong: weak |
            clean: dirty | loud: quiet | thick: thin | push: pull | win: lose | buy: sell |
            true: false | tall: short | inside: outside | heavy: light | love: hate |
            remember: forget
        [2] ancient: modern | brave: cowardly | shallow: deep | narrow: wide | rough: smooth |
            sharp: blunt | visible: invisible | accept: reject | maximum: minimum |
            include: exclude | increase: decrease | victory: defeat | friend: enemy |
            success: failure | arrive: depart | ascend: descend | import: export |
            horizontal: vertical | ancestor: descendant | innocent: guilty | sunrise: sunset
        [3] verbose: concise | benevolent: malevolent | optimist: pessimist | transparent: opaque |
            frugal: extravagant | scarce: abundant | humble: arrogant | temporary: permanent |
            vague: precise | convex: concave | synonym: antonym | zenith: nadir | novice: expert |
            prologue: epilogue | acquit: convict | exhale: inhale | artificial: natural |
            praise: criticize
        """
    ),
)

PLURAL = Family(
    name="plural",
    domain="language",
    cores=(
        "what is the plural of {x}?",
        "give the plural form of {x}.",
        "what do you call more than one {x}?",
        "write {x} in the plural.",
        "what is the plural form of the noun {x}?",
        "how do you say {x} when there are several?",
    ),
    input_cores=("give the plural of the noun below.",),
    answers=("{a}.", "It is {a}.", "The plural is {a}."),
    facts=_facts(
        """
        [1] child: children | man: men | woman: women | foot: feet | tooth: teeth | mouse: mice |
            goose: geese | person: people | box: boxes | baby: babies | knife: knives |
            leaf: leaves | wolf: wolves | city: cities | bus: buses | dog: dogs | house: houses |
            church: churches | glass: glasses | story: stories | party: parties
        [2] ox: oxen | sheep: sheep | deer: deer | potato: potatoes | hero: heroes |
            tomato: tomatoes | half: halves | shelf: shelves | thief: thieves | loaf: loaves |
            calf: calves | life: lives | wife: wives | louse: lice | die: dice | moose: moose |
            echo: echoes | scarf: scarves
        [3] criterion: criteria | phenomenon: phenomena | analysis: analyses | crisis: crises |
            thesis: theses | hypothesis: hypotheses | oasis: oases | bacterium: bacteria |
            larva: larvae | alga: algae | vertebra: vertebrae | nucleus: nuclei |
            stimulus: stimuli | radius: radii | matrix: matrices | vortex: vortices |
            genus: genera | corpus: corpora | cherub: cherubim | ellipsis: ellipses |
            parenthesis: parentheses | diagnosis: diagnoses
        """
    ),
)

PAST_TENSE = Family(
    name="past_tense",
    domain="language",
    cores=(
        "what is the past tense of {x}?",
        "give the past tense of the verb {x}.",
        "how do you say {x} in the past tense?",
        "put the verb {x} into the past tense.",
        "what is the simple past of {x}?",
        "conjugate {x} in the simple past.",
    ),
    input_cores=("write the past tense of the verb below.",),
    answers=("{a}.", "It is {a}.", "The past tense is {a}."),
    facts=_facts(
        """
        [1] go: went | eat: ate | see: saw | run: ran | take: took | come: came | give: gave |
            write: wrote | drink: drank | sing: sang | swim: swam | buy: bought | bring: brought |
            think: thought | sleep: slept | speak: spoke | break: broke | drive: drove | fly: flew |
            know: knew | make: made | find: found | tell: told | sit: sat | begin: began
        [2] freeze: froze | steal: stole | bite: bit | hide: hid | shake: shook | forgive: forgave |
            forbid: forbade | seek: sought | weep: wept | creep: crept | kneel: knelt |
            swear: swore | tear: tore | sting: stung | swing: swung | cling: clung | fling: flung |
            bind: bound | grind: ground | shrink: shrank
        [3] forsake: forsook | smite: smote | stride: strode | strive: strove | slay: slew |
            tread: trod | wring: wrung | slink: slunk | beseech: besought | weave: wove |
            arise: arose | befall: befell | behold: beheld | overtake: overtook |
            undergo: underwent | withstand: withstood | forswear: forswore | outdo: outdid |
            mislead: misled | partake: partook
        """
    ),
)

# --- science --------------------------------------------------------------------------------

ELEMENT_SYMBOL = Family(
    name="element_symbol",
    domain="science",
    cores=(
        "what is the chemical symbol for {x}?",
        "give the symbol of the element {x}.",
        "which symbol stands for {x} on the periodic table?",
        "name the element symbol of {x}.",
        "{x} has which chemical symbol?",
        "how is {x} abbreviated in chemistry?",
    ),
    input_cores=("give the chemical symbol of the element below.",),
    answers=("{a}.", "It is {a}.", "The symbol is {a}."),
    facts=_facts(
        """
        [1] hydrogen: H | helium: He | carbon: C | nitrogen: N | oxygen: O | sodium: Na | iron: Fe |
            gold: Au | silver: Ag | copper: Cu | calcium: Ca | chlorine: Cl | neon: Ne | lead: Pb |
            zinc: Zn | potassium: K | sulfur: S | magnesium: Mg | aluminium: Al | uranium: U
        [2] lithium: Li | fluorine: F | silicon: Si | phosphorus: P | argon: Ar | nickel: Ni |
            tin: Sn | mercury: Hg | platinum: Pt | titanium: Ti | cobalt: Co | chromium: Cr |
            manganese: Mn | iodine: I | bromine: Br | tungsten: W | boron: B | beryllium: Be
        [3] tellurium: Te | ruthenium: Ru | rhodium: Rh | palladium: Pd | osmium: Os | iridium: Ir |
            hafnium: Hf | tantalum: Ta | rubidium: Rb | strontium: Sr | zirconium: Zr |
            niobium: Nb | molybdenum: Mo | antimony: Sb | bismuth: Bi | thallium: Tl |
            gadolinium: Gd | europium: Eu | scandium: Sc | vanadium: V | selenium: Se |
            germanium: Ge | gallium: Ga | caesium: Cs | yttrium: Y
        """
    ),
)

SI_UNIT = Family(
    name="si_unit",
    domain="science",
    cores=(
        "what is the SI unit of {x}?",
        "which SI unit measures {x}?",
        "name the SI unit for {x}.",
        "{x} is measured in which SI unit?",
        "in what SI unit do we express {x}?",
    ),
    input_cores=(),
    answers=("{a}.", "The {a}.", "It is the {a}."),
    facts=_facts(
        """
        [1] length: metre | mass: kilogram | time: second | temperature: kelvin |
            electric current: ampere | force: newton | energy: joule | power: watt
        [2] voltage: volt | electric charge: coulomb | electrical resistance: ohm |
            frequency: hertz | pressure: pascal | amount of substance: mole |
            luminous intensity: candela
        [3] capacitance: farad | inductance: henry | magnetic flux: weber |
            magnetic flux density: tesla | electrical conductance: siemens | illuminance: lux |
            luminous flux: lumen | radioactivity: becquerel | absorbed dose: gray |
            equivalent dose: sievert | catalytic activity: katal | plane angle: radian |
            solid angle: steradian
        """
    ),
)

# --- nature ---------------------------------------------------------------------------------

ANIMAL_SOUND = Family(
    name="animal_sound",
    domain="nature",
    cores=(
        "what sound does a {x} make?",
        "what noise does a {x} make?",
        "which sound is made by a {x}?",
        "name the sound a {x} makes.",
        "what do you call the sound of a {x}?",
        "a {x} makes what sound?",
    ),
    input_cores=("what sound does the animal below make?",),
    answers=("{a}.", "It is a {a}.", "The answer is {a}."),
    facts=_facts(
        """
        [1] dog: bark | cat: meow | cow: moo | duck: quack | pig: oink | sheep: baa | horse: neigh |
            lion: roar | owl: hoot | snake: hiss | bee: buzz | frog: croak | mouse: squeak |
            wolf: howl | chicken: cluck
        [2] donkey: bray | elephant: trumpet | turkey: gobble | goose: honk | dove: coo |
            crow: caw | bear: growl | goat: bleat | cricket: chirp | pigeon: coo | hyena: laugh |
            rooster: crow
        [3] bat: screech | dolphin: click | parrot: squawk | magpie: chatter | hummingbird: hum |
            elk: bugle | moose: bellow | bittern: boom | rhinoceros: snort | hippopotamus: grunt |
            grasshopper: chirp | kookaburra: laugh
        """
    ),
)

BABY_ANIMAL = Family(
    name="baby_animal",
    domain="nature",
    cores=(
        "what is a baby {x} called?",
        "what do you call a young {x}?",
        "name the baby of a {x}.",
        "a baby {x} is known as what?",
        "what word describes a young {x}?",
        "what name is given to a baby {x}?",
    ),
    input_cores=("what is the baby of the animal below called?",),
    answers=("{a}.", "It is a {a}.", "A {a}."),
    facts=_facts(
        """
        [1] dog: puppy | cat: kitten | cow: calf | horse: foal | sheep: lamb | pig: piglet |
            duck: duckling | bear: cub | lion: cub | frog: tadpole | goat: kid | chicken: chick |
            deer: fawn | kangaroo: joey | tiger: cub
        [2] goose: gosling | swan: cygnet | owl: owlet | eagle: eaglet | seal: pup | wolf: pup |
            hare: leveret | elephant: calf | whale: calf | butterfly: caterpillar | turkey: poult |
            pigeon: squab | zebra: foal | donkey: foal
        [3] eel: elver | fish: fry | oyster: spat | hawk: eyas | platypus: puggle |
            echidna: puggle | beaver: kit | ferret: kit | peafowl: peachick | spider: spiderling |
            hedgehog: hoglet | cod: codling | partridge: cheeper
        """
    ),
)

ANIMAL_GROUP = Family(
    name="animal_group",
    domain="nature",
    cores=(
        "what is a group of {x} called?",
        "what do you call a group of {x}?",
        "name the collective noun for {x}.",
        "a group of {x} is known as a what?",
        "which word names a group of {x}?",
        "what collective noun is used for {x}?",
    ),
    input_cores=(),
    answers=("{a}.", "A {a}.", "It is called a {a}."),
    facts=_facts(
        """
        [1] wolves: pack | fish: school | bees: swarm | cows: herd | sheep: flock | lions: pride |
            ants: colony | puppies: litter | geese: gaggle | whales: pod | birds: flock |
            elephants: herd
        [2] crows: murder | owls: parliament | monkeys: troop | kangaroos: mob | hyenas: cackle |
            zebras: dazzle | dolphins: pod | flamingos: flamboyance | ravens: unkindness |
            jellyfish: smack | bats: colony | locusts: plague | gorillas: band
        [3] larks: exaltation | rhinoceroses: crash | ferrets: business | porcupines: prickle |
            toads: knot | cats: clowder | hippopotamuses: bloat | starlings: murmuration |
            butterflies: kaleidoscope | leopards: leap | finches: charm | rattlesnakes: rhumba |
            apes: shrewdness | moles: labour | badgers: cete | giraffes: tower
        """
    ),
)

# --- numbers --------------------------------------------------------------------------------

NUMBER_WORD = Family(
    name="number_word",
    domain="numbers",
    cores=(
        "write {x} in words.",
        "how do you spell the number {x}?",
        "what is {x} written out in words?",
        "spell out the number {x}.",
        "how is {x} written as a word?",
        "give the English word for the number {x}.",
    ),
    input_cores=("write the number below in words.",),
    answers=("{a}.", "It is {a}.", "It is written {a}."),
    facts=_facts(
        """
        [1] 0: zero | 1: one | 2: two | 3: three | 4: four | 5: five | 6: six | 7: seven |
            8: eight | 9: nine | 10: ten
        [2] 11: eleven | 12: twelve | 13: thirteen | 14: fourteen | 15: fifteen | 16: sixteen |
            17: seventeen | 18: eighteen | 19: nineteen | 20: twenty
        [3] 30: thirty | 40: forty | 50: fifty | 60: sixty | 70: seventy | 80: eighty | 90: ninety |
            100: one hundred | 1000: one thousand | 1000000: one million
        """
    ),
)

ROMAN_NUMERAL = Family(
    name="roman_numeral",
    domain="numbers",
    cores=(
        "write {x} in roman numerals.",
        "what is {x} as a roman numeral?",
        "how did the Romans write {x}?",
        "convert {x} to roman numerals.",
        "give the roman numeral for {x}.",
    ),
    input_cores=("convert the number below to roman numerals.",),
    answers=("{a}.", "It is {a}.", "In Roman numerals, {a}."),
    facts=_facts(
        """
        [1] 1: I | 2: II | 3: III | 4: IV | 5: V | 6: VI | 7: VII | 8: VIII | 9: IX | 10: X
        [2] 11: XI | 12: XII | 13: XIII | 14: XIV | 15: XV | 16: XVI | 17: XVII | 18: XVIII |
            19: XIX | 20: XX | 50: L | 100: C
        [3] 30: XXX | 40: XL | 49: XLIX | 60: LX | 70: LXX | 80: LXXX | 90: XC | 99: XCIX |
            400: CD | 500: D | 900: CM | 1000: M | 2000: MM
        """
    ),
)

def _sum_facts() -> tuple[Fact, ...]:
    """Two-number sums: single digits (tier 1), two digits plus one (2), two plus two (3)."""
    ranges = {1: (range(1, 10), range(1, 10)), 2: (range(10, 50), range(1, 10)), 3: (range(10, 50), range(10, 50))}
    return tuple(Fact(f"{a} plus {b}", str(a + b), tier) for tier, (xs, ys) in ranges.items() for a in xs for b in ys)


# A kind the arena's student can memorise but not learn: each sum is its own fact among 2,041, so
# a student that has not worked out addition from its examples misses every sum it has not seen.
# Real students fail the same way on arithmetic and multi-step reasoning, and a referee keeps
# finding them hard however much they are trained on. Only in play with `data.arena_sums`.
SUM = Family(
    name="sum",
    domain="numbers",
    cores=(
        "what is {x}?",
        "work out {x}.",
        "calculate {x}.",
        "what do you get for {x}?",
        "how much is {x}?",
        "add up {x}.",
    ),
    input_cores=("add up the sum below.",),
    answers=("{a}.", "It is {a}."),
    facts=_sum_facts(),
    key_pattern=r"\d+ plus \d+",
)

FAMILIES: tuple[Family, ...] = (
    CAPITAL,
    CONTINENT,
    CURRENCY,
    ANTONYM,
    PLURAL,
    PAST_TENSE,
    ELEMENT_SYMBOL,
    SI_UNIT,
    ANIMAL_SOUND,
    BABY_ANIMAL,
    ANIMAL_GROUP,
    NUMBER_WORD,
    ROMAN_NUMERAL,
)

EXTRA: tuple[Family, ...] = (SUM,)  # kinds a config adds to the standard world

BY_NAME: dict[str, Family] = {f.name: f for f in FAMILIES + EXTRA}
